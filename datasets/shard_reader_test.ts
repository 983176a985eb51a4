import assert from "node:assert/strict";
import { join } from "node:path";
import { DatasetError } from "./errors.ts";
import { writeNanoGptShard, writeShard } from "./shard.ts";
import { PROBE_TOKENS } from "./shard_format.ts";
import { openShards, ShardReader } from "./shard_reader.ts";

function withTempDir(fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "tempo_shard_reader_" });
  try {
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("ShardReader reads arbitrary ranges from disk", () => {
  withTempDir((dir) => {
    const p = join(dir, "a.bin");
    const tokens = Array.from({ length: 10_000 }, (_, i) => (i * 31) % 50000);
    writeShard(p, tokens, { vocabSize: 50257 });
    const r = ShardReader.open(p);
    try {
      assert.equal(r.length, 10_000);
      for (const [start, n] of [[0, 1], [17, 100], [9_990, 10], [5_000, 3_000]]) {
        const out = new Int32Array(n);
        r.read(start, out);
        assert.deepEqual(Array.from(out), tokens.slice(start, start + n));
      }
      assert.throws(() => r.read(9_995, new Int32Array(6)), RangeError);
      assert.throws(() => r.read(-1, new Int32Array(1)), RangeError);
    } finally {
      r.close();
    }
  });
});

Deno.test("ShardReader checks ids against the vocabulary on open and on every read", () => {
  withTempDir((dir) => {
    const p = join(dir, "a.bin");
    writeShard(p, [1, 2, 3, 500, 4], { vocabSize: 1000 });
    assert.throws(() => ShardReader.open(p, { vocabSize: 260 }), /token id 500 at position 3/);
    // Past the ids checked on open, each read checks its own, with absolute positions.
    const tokens = Array.from({ length: PROBE_TOKENS + 10 }, (_, i) => i % 250);
    tokens[PROBE_TOKENS + 5] = 500;
    writeShard(p, tokens, { vocabSize: 1000 });
    const r = ShardReader.open(p, { vocabSize: 260 });
    try {
      r.read(PROBE_TOKENS, new Int32Array(5));
      assert.throws(() => r.read(PROBE_TOKENS + 2, new Int32Array(5)), DatasetError);
      assert.throws(
        () => r.read(PROBE_TOKENS + 2, new Int32Array(5)),
        new RegExp(`token id 500 at position ${PROBE_TOKENS + 5}`),
      );
    } finally {
      r.close();
    }
  });
});

Deno.test("ShardReader sees a shard that shrank after open as an error", () => {
  withTempDir((dir) => {
    const p = join(dir, "a.bin");
    writeShard(p, [1, 2, 3, 4], { vocabSize: 10 });
    const r = ShardReader.open(p);
    try {
      Deno.truncateSync(p, 1024 + 2);
      assert.throws(() => r.read(0, new Int32Array(4)), /ended early/);
    } finally {
      r.close();
    }
  });
});

Deno.test("openShards concatenates shards of mixed formats into one stream", () => {
  withTempDir((dir) => {
    writeShard(join(dir, "a.bin"), [1, 2, 3], { vocabSize: 10 });
    writeNanoGptShard(join(dir, "b.bin"), [4, 5]);
    writeShard(join(dir, "c.bin"), [6, 7, 8, 9], { vocabSize: 70000 });
    const s = openShards(["a.bin", "b.bin", "c.bin"].map((f) => join(dir, f)), {
      format: "auto",
    });
    try {
      assert.equal(s.length, 9);
      assert.deepEqual(s.shards.map((i) => [i.layout, i.tokens]), [
        ["llmc-u16", 3],
        ["nanogpt-u16", 2],
        ["tempo-u32", 4],
      ]);
      const out = new Int32Array(7);
      s.read(1, out);
      assert.deepEqual(Array.from(out), [2, 3, 4, 5, 6, 7, 8]);
    } finally {
      s.close();
    }
    s.close(); // A second close is harmless.
    assert.throws(() => openShards([]), DatasetError);
    assert.throws(() => openShards([join(dir, "a.bin"), join(dir, "missing.bin")]), /missing/);
  });
});

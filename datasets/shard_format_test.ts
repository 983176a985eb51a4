import assert from "node:assert/strict";
import { join } from "node:path";
import { DatasetError } from "./errors.ts";
import { writeNanoGptShard, writeShard } from "./shard.ts";
import {
  encodeShardHeader,
  inspectShard,
  SHARD_HEADER_BYTES,
  SHARD_MAGIC,
  shardVersionFor,
} from "./shard_format.ts";

function withTempDir(fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "tempo_shard_format_" });
  try {
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

function rawShard(magic: number, version: number, count: number, dataBytes: number): Uint8Array {
  const bytes = new Uint8Array(SHARD_HEADER_BYTES + dataBytes);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, magic, true);
  view.setInt32(4, version, true);
  view.setInt32(8, count, true);
  return bytes;
}

Deno.test("header layout is llm.c's: magic, version, count as little-endian int32", () => {
  const h = encodeShardHeader(2, 1234);
  assert.equal(h.length, 1024);
  const v = new DataView(h.buffer);
  assert.deepEqual([v.getInt32(0, true), v.getInt32(4, true), v.getInt32(8, true)], [
    SHARD_MAGIC,
    2,
    1234,
  ]);
  assert.ok(h.subarray(12).every((b) => b === 0));
  assert.equal(shardVersionFor(50257), 1);
  assert.equal(shardVersionFor(65536), 1);
  assert.equal(shardVersionFor(65537), 2);
  assert.throws(() => shardVersionFor(0), DatasetError);
});

Deno.test("inspectShard reports a valid shard's layout", () => {
  withTempDir((dir) => {
    const p = join(dir, "a.bin");
    writeShard(p, [1, 2, 3], { vocabSize: 10 });
    assert.deepEqual(inspectShard(p), {
      path: p,
      format: "llmc",
      version: 1,
      bytesPerToken: 2,
      dataOffset: 1024,
      tokens: 3,
    });
    assert.equal(inspectShard(p, "auto").format, "llmc");
  });
});

Deno.test("inspectShard rejects each kind of bad shard with a clear message", () => {
  withTempDir((dir) => {
    const bad = (name: string, bytes: Uint8Array, re: RegExp, format?: "llmc" | "auto") => {
      const p = join(dir, name);
      Deno.writeFileSync(p, bytes);
      assert.throws(() => inspectShard(p, format), DatasetError);
      assert.throws(() => inspectShard(p, format), re);
    };
    assert.throws(() => inspectShard(join(dir, "nope.bin")), /does not exist/);
    assert.throws(() => inspectShard(dir), /not a file/);
    bad("magic.bin", rawShard(12345, 1, 2, 4), /magic 12345.*nanogpt/);
    bad("version.bin", rawShard(SHARD_MAGIC, 3, 2, 4), /unsupported version 3/);
    bad("trunc.bin", rawShard(SHARD_MAGIC, 1, 10, 6), /truncated.*10 tokens.*room for 3/);
    bad("trunc32.bin", rawShard(SHARD_MAGIC, 2, 2, 6), /truncated/);
    bad("extra.bin", rawShard(SHARD_MAGIC, 1, 2, 6), /2 bytes after its 2 tokens/);
    bad("empty.bin", rawShard(SHARD_MAGIC, 1, 0, 0), /empty \(0 tokens\)/);
    bad("neg.bin", rawShard(SHARD_MAGIC, 1, -5, 0), /corrupt/);
    bad("short.bin", rawShard(SHARD_MAGIC, 1, 2, 4).subarray(0, 100), /smaller than the 1024/);
    bad("garbage.bin", new Uint8Array(100), /magic 0, not llm\.c's/);
    bad("zero.bin", new Uint8Array(0), /empty \(0 bytes\)/);
    bad("zero_auto.bin", new Uint8Array(0), /empty \(0 bytes\)/, "auto");
    bad("odd_auto.bin", new Uint8Array(7), /odd size/, "auto");
  });
});

Deno.test("nanoGPT headerless files are detected by 'auto' and read by 'nanogpt'", () => {
  withTempDir((dir) => {
    const p = join(dir, "train.bin");
    writeNanoGptShard(p, [5, 6, 7, 65535]);
    for (const format of ["nanogpt", "auto"] as const) {
      const info = inspectShard(p, format);
      assert.equal(info.format, "nanogpt");
      assert.equal(info.tokens, 4);
      assert.equal(info.dataOffset, 0);
    }
    assert.throws(() => inspectShard(p), /not an llm\.c token shard/);
  });
});

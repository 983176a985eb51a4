import assert from "node:assert/strict";
import { join } from "node:path";
import { DatasetError } from "./errors.ts";
import { readShard, writeNanoGptShard, writeShard } from "./shard.ts";

function withTempDir(fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "tempo_shard_" });
  try {
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("uint16 shard round trip (version 1)", () => {
  withTempDir((dir) => {
    const p = join(dir, "sub", "train.bin");
    const tokens = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 50257);
    assert.equal(writeShard(p, tokens, { vocabSize: 50257 }), 5000);
    assert.equal(Deno.statSync(p).size, 1024 + 2 * 5000);
    assert.deepEqual(Array.from(readShard(p, { vocabSize: 50257 })), tokens);
    assert.equal(new DataView(Deno.readFileSync(p).buffer).getInt32(4, true), 1);
  });
});

Deno.test("uint32 shard round trip (version 2) for vocabularies over 65536", () => {
  withTempDir((dir) => {
    const p = join(dir, "big.bin");
    const tokens = [0, 65535, 65536, 99999, 4];
    writeShard(p, tokens, { vocabSize: 100000 });
    assert.equal(Deno.statSync(p).size, 1024 + 4 * 5);
    assert.deepEqual(Array.from(readShard(p)), tokens);
    assert.equal(new DataView(Deno.readFileSync(p).buffer).getInt32(4, true), 2);
  });
});

Deno.test("nanoGPT uint16 round trip", () => {
  withTempDir((dir) => {
    const p = join(dir, "val.bin");
    writeNanoGptShard(p, [3, 1, 4, 1, 5]);
    assert.equal(Deno.statSync(p).size, 10);
    assert.deepEqual(Array.from(readShard(p, { format: "nanogpt" })), [3, 1, 4, 1, 5]);
    assert.deepEqual(Array.from(readShard(p, { format: "auto" })), [3, 1, 4, 1, 5]);
  });
});

Deno.test("ids outside the vocabulary are reported with the first bad id and its position", () => {
  withTempDir((dir) => {
    const p = join(dir, "a.bin");
    writeShard(p, [1, 2, 300, 400], { vocabSize: 1000 });
    assert.throws(() => readShard(p, { vocabSize: 256 }), DatasetError);
    assert.throws(() => readShard(p, { vocabSize: 256 }), /token id 300 at position 2/);
    assert.throws(() => writeShard(p, [1, 256], { vocabSize: 256 }), /token id 256 at position 1/);
    assert.deepEqual(Array.from(readShard(p)), [1, 2, 300, 400], "failed write kept old file");
  });
});

Deno.test("writing an empty shard is refused and leaves no file behind", () => {
  withTempDir((dir) => {
    const p = join(dir, "empty.bin");
    assert.throws(() => writeShard(p, [], { vocabSize: 10 }), /empty shard/);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatasetError } from "./errors.ts";
import { readShard } from "./shard.ts";
import { ShardWriter } from "./shard_writer.ts";

function withTempDir(fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "tempo_shard_writer_" });
  try {
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("the shard appears only on close; abort leaves nothing", () => {
  withTempDir((dir) => {
    const p = join(dir, "a.bin");
    const w = ShardWriter.create(p, { vocabSize: 100 });
    w.write([1, 2, 3]);
    assert.throws(() => Deno.statSync(p), Deno.errors.NotFound);
    assert.equal(w.close(), 3);
    assert.deepEqual(Array.from(readShard(p)), [1, 2, 3]);
    const w2 = ShardWriter.create(p, { vocabSize: 100 });
    w2.write([9, 9]);
    w2.abort();
    w2.abort();
    assert.deepEqual(Array.from(readShard(p)), [1, 2, 3], "abort keeps the old shard");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.bin"]);
  });
});

Deno.test("many writes across the buffer boundary stream correctly", () => {
  withTempDir((dir) => {
    const p = join(dir, "a.bin");
    const w = ShardWriter.create(p, { vocabSize: 65536 });
    const expected: number[] = [];
    for (let c = 0; c < 7; c++) {
      const chunk = Array.from({ length: 50_000 }, (_, i) => (c * 50_000 + i) % 65536);
      w.write(chunk);
      expected.push(...chunk);
    }
    assert.equal(w.count, 350_000);
    w.close();
    assert.deepEqual(Array.from(readShard(p)), expected);
  });
});

Deno.test("moveTailTo moves exactly the last n tokens to another shard", () => {
  withTempDir((dir) => {
    for (const vocabSize of [1000, 70000]) {
      const a = ShardWriter.create(join(dir, `train${vocabSize}.bin`), { vocabSize });
      const b = ShardWriter.create(join(dir, `val${vocabSize}.bin`), { vocabSize });
      const tokens = Array.from({ length: 300_000 }, (_, i) => i % 997);
      a.write(tokens.slice(0, 280_000)); // Part flushed, part buffered.
      a.write(tokens.slice(280_000));
      a.moveTailTo(270_001, b);
      assert.equal(a.count, 29_999);
      assert.equal(b.count, 270_001);
      a.write([5]);
      a.close();
      b.close();
      assert.deepEqual(
        Array.from(readShard(join(dir, `train${vocabSize}.bin`))),
        [...tokens.slice(0, 29_999), 5],
      );
      assert.deepEqual(
        Array.from(readShard(join(dir, `val${vocabSize}.bin`))),
        tokens.slice(29_999),
      );
    }
  });
});

Deno.test("a shard that cannot be written is one clear line naming it, and leaves nothing", () => {
  withTempDir((dir) => {
    Deno.writeFileSync(join(dir, "file"), new Uint8Array(1));
    const p = join(dir, "file", "sub", "a.bin"); // A folder inside a regular file.
    let err: unknown;
    try {
      ShardWriter.create(p, { vocabSize: 100 });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof DatasetError, String(err));
    assert.match(err.message, new RegExp(`^${p}: .*no shard was published\\.$`));
    assert.ok(!err.message.includes("\n"));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["file"]);
  });
});

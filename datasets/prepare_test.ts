import assert from "node:assert/strict";
import { join } from "node:path";
import { BertTokenizer } from "./bert_tokenizer.ts";
import { BytesTokenizer } from "./bytes_tokenizer.ts";
import { loadDataset } from "./dataset_meta.ts";
import { DatasetError } from "./errors.ts";
import { Gpt2Tokenizer } from "./gpt2_tokenizer.ts";
import { prepare } from "./prepare.ts";
import { readShard } from "./shard.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tempo_prepare_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("prepare tokenizes a folder into train/val shards with separators and progress", async () => {
  await withTempDir(async (dir) => {
    const src = join(dir, "src");
    await Deno.mkdir(join(src, "sub"), { recursive: true });
    const a = "Call me Ishmael. ".repeat(40);
    const b = "The whale, the whale! ".repeat(30);
    await Deno.writeTextFile(join(src, "a.txt"), a);
    await Deno.writeTextFile(join(src, "sub", "b.md"), b);
    await Deno.writeTextFile(join(src, "ignored.bin"), "binary?");
    const tok = new Gpt2Tokenizer();
    const progress: [number, number][] = [];
    const out = join(dir, "out");
    const s = await prepare({
      inputs: [src],
      outDir: out,
      tokenizer: tok,
      valFraction: 0.1,
      onProgress: (done, total) => progress.push([done, total]),
    });
    const expected = [...tok.encode(a), tok.eotId, ...tok.encode(b), tok.eotId];
    const total = new TextEncoder().encode(a + b).length;
    assert.equal(s.files, 2);
    assert.equal(s.bytes, total);
    assert.equal(s.documents, 2);
    assert.equal(s.tokens, expected.length);
    assert.equal(s.valTokens, Math.round(expected.length * 0.1));
    assert.deepEqual(Array.from(readShard(s.train)), expected.slice(0, s.trainTokens));
    assert.deepEqual(Array.from(readShard(s.val!)), expected.slice(s.trainTokens));
    assert.deepEqual(progress[0], [0, total]);
    assert.deepEqual(progress.at(-1), [total, total]);
    assert.ok(progress.every(([d, t], i) => t === total && (i === 0 || d >= progress[i - 1][0])));
    const ds = loadDataset(out, tok);
    assert.equal(ds.train, s.train);
    assert.equal(ds.meta.trainTokens, s.trainTokens);
  });
});

Deno.test("prepare streams files larger than its read chunk exactly", async () => {
  await withTempDir(async (dir) => {
    const words = ["whale", "sea", "Ahab", "harpoon", "naïve", "—", "\n\n", "  "];
    let text = "";
    for (let i = 0; text.length < 1_200_000; i++) text += words[(i * 7) % words.length] + " ";
    await Deno.writeTextFile(join(dir, "big.txt"), text);
    const tok = new BertTokenizer();
    const s = await prepare({
      inputs: join(dir, "big.txt"),
      outDir: join(dir, "out"),
      tokenizer: tok,
      valFraction: 0,
    });
    assert.equal(s.val, null);
    assert.deepEqual(Array.from(readShard(s.train)), [...tok.encode(text), tok.sepId]);
  });
});

Deno.test("prepare reports missing inputs, folders without text and empty corpora", async () => {
  await withTempDir(async (dir) => {
    const opts = { outDir: join(dir, "out"), tokenizer: new BytesTokenizer() };
    await assert.rejects(() => prepare({ ...opts, inputs: join(dir, "nope") }), /does not exist/);
    await Deno.mkdir(join(dir, "empty"));
    await assert.rejects(() => prepare({ ...opts, inputs: join(dir, "empty") }), DatasetError);
    await assert.rejects(
      () => prepare({ ...opts, inputs: join(dir, "empty") }),
      /No text files found/,
    );
    await Deno.writeTextFile(join(dir, "empty", "blank.txt"), "");
    await assert.rejects(() => prepare({ ...opts, inputs: join(dir, "empty") }), /corpus is empty/);
    assert.deepEqual([...Deno.readDirSync(join(dir, "out"))], []);
  });
});

Deno.test("prepare into a folder it cannot create is one clear line", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "a.txt"), "Call me Ishmael.");
    const outDir = join(dir, "a.txt", "out"); // Inside a regular file.
    const err = await prepare({
      inputs: join(dir, "a.txt"),
      outDir,
      tokenizer: new BytesTokenizer(),
    })
      .then(() => null, (e) => e);
    assert.ok(err instanceof DatasetError, String(err));
    assert.match(
      err.message,
      new RegExp(`^${outDir}: .*Pick an output folder you can write to\\.$`),
    );
  });
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { BytesTokenizer } from "./bytes_tokenizer.ts";
import { CorpusWriter } from "./corpus_writer.ts";
import { DatasetError } from "./errors.ts";
import { readShard } from "./shard.ts";

const tok = new BytesTokenizer();

function withTempDir(fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "tempo_corpus_writer_" });
  try {
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("documents are separated by the end-of-document id and the last tokens go to val", () => {
  withTempDir((dir) => {
    const w = new CorpusWriter(tok, {
      trainPath: join(dir, "train.bin"),
      valPath: join(dir, "val.bin"),
      valFraction: 0.25,
    });
    w.addText("ab");
    w.addText("c");
    w.endDocument();
    w.endDocument(); // Empty document: no second separator.
    w.addText("defg");
    const split = w.finish(); // Ends the last document too.
    const all = [97, 98, 99, 258, 100, 101, 102, 103, 258]; // 9 tokens -> round(2.25) = 2 val.
    assert.deepEqual(split, {
      train: join(dir, "train.bin"),
      val: join(dir, "val.bin"),
      trainTokens: 7,
      valTokens: 2,
      documents: 2,
    });
    assert.deepEqual(Array.from(readShard(split.train)), all.slice(0, 7));
    assert.deepEqual(Array.from(readShard(split.val!)), all.slice(7));
  });
});

Deno.test("valFraction 0 writes only a train shard", () => {
  withTempDir((dir) => {
    const w = new CorpusWriter(tok, {
      trainPath: join(dir, "train.bin"),
      valPath: join(dir, "val.bin"),
      valFraction: 0,
    });
    w.addText("x");
    const split = w.finish();
    assert.equal(split.val, null);
    assert.deepEqual(Array.from(readShard(split.train)), [120, 258]);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["train.bin"]);
  });
});

Deno.test("an empty corpus or a bad fraction is a clear error and leaves no files", () => {
  withTempDir((dir) => {
    const opts = { trainPath: join(dir, "t.bin"), valPath: join(dir, "v.bin"), valFraction: 0.1 };
    const w = new CorpusWriter(tok, opts);
    w.addText("");
    w.endDocument();
    assert.throws(() => w.finish(), /corpus is empty/);
    assert.throws(() => new CorpusWriter(tok, { ...opts, valFraction: 0.9 }), DatasetError);
    assert.throws(() => new CorpusWriter(tok, { ...opts, valFraction: NaN }), /\[0, 0\.5\]/);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

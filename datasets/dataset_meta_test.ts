import assert from "node:assert/strict";
import { join } from "node:path";
import { BytesTokenizer } from "./bytes_tokenizer.ts";
import { type DatasetMeta, loadDataset, writeDatasetMeta } from "./dataset_meta.ts";
import { DatasetError } from "./errors.ts";
import { Gpt2Tokenizer } from "./gpt2_tokenizer.ts";
import { writeShard } from "./shard.ts";

const META: DatasetMeta = {
  format: "tempo-dataset/1",
  source: "test",
  tokenizer: "bytes",
  vocabSize: 260,
  eotId: 258,
  train: "train.bin",
  val: "val.bin",
  trainTokens: 3,
  valTokens: 1,
  valFraction: 0.1,
  documents: 1,
};

function shards(dir: string): void {
  writeShard(join(dir, "train.bin"), [1, 2, 3], { vocabSize: 260 });
  writeShard(join(dir, "val.bin"), [4], { vocabSize: 260 });
}

Deno.test("meta.json round trips and resolves shard paths", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tempo_meta_" });
  try {
    shards(dir);
    writeDatasetMeta(dir, META);
    const ds = loadDataset(dir, new BytesTokenizer());
    assert.deepEqual(ds, { meta: META, train: join(dir, "train.bin"), val: join(dir, "val.bin") });
    writeDatasetMeta(dir, { ...META, val: null });
    assert.equal(loadDataset(dir).val, null);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadDataset explains a missing, corrupt or mismatched dataset", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tempo_meta_" });
  try {
    assert.throws(() => loadDataset(dir), /not a prepared dataset.*tempo prepare/);
    Deno.writeTextFileSync(join(dir, "meta.json"), "{oops");
    assert.throws(() => loadDataset(dir), /not valid JSON/);
    Deno.writeTextFileSync(join(dir, "meta.json"), '{"format":"other"}');
    assert.throws(() => loadDataset(dir), /not a tempo-dataset\/1 file/);
    writeDatasetMeta(dir, META);
    assert.throws(() => loadDataset(dir), /train\.bin does not exist/);
    shards(dir);
    assert.throws(() => loadDataset(dir, new Gpt2Tokenizer()), DatasetError);
    assert.throws(() => loadDataset(dir, new Gpt2Tokenizer()), /tokenized with "bytes".*"gpt2"/);
    writeShard(join(dir, "val.bin"), [4, 5], { vocabSize: 260 });
    assert.throws(() => loadDataset(dir), /val\.bin has 2 tokens but meta\.json says 1/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

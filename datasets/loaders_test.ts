import assert from "node:assert/strict";
import { join } from "node:path";
import { BytesTokenizer } from "./bytes_tokenizer.ts";
import { CausalLoader } from "./causal_loader.ts";
import { loadDataset } from "./dataset_meta.ts";
import { datasetLoaders } from "./loaders.ts";
import { MlmLoader } from "./mlm_loader.ts";
import { prepare } from "./prepare.ts";

const TEXT = "It is not down on any map; true places never are. ".repeat(20);

async function withDataset(fn: (dir: string) => void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tempo_loaders_" });
  try {
    await Deno.writeTextFile(join(dir, "a.txt"), TEXT);
    await prepare({
      inputs: join(dir, "a.txt"),
      outDir: join(dir, "ds"),
      tokenizer: new BytesTokenizer(),
    });
    fn(join(dir, "ds"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("causal loaders: shuffled train, in-order validation over the val shard", async () => {
  await withDataset((dir) => {
    const tokenizer = new BytesTokenizer();
    const ds = loadDataset(dir, tokenizer);
    const { train, val, close } = datasetLoaders(ds, {
      objective: "causal",
      tokenizer,
      B: 2,
      T: 8,
    });
    try {
      assert.ok(train instanceof CausalLoader && val instanceof CausalLoader);
      assert.equal(train.windows, Math.floor((ds.meta.trainTokens - 1) / 8));
      assert.equal(val.windows, Math.floor((ds.meta.valTokens - 1) / 8));
      const first = val.next();
      const stream = [...tokenizer.encode(TEXT), tokenizer.eotId];
      const valStart = ds.meta.trainTokens;
      assert.deepEqual(
        Array.from(first.inputIds.subarray(0, 8)),
        stream.slice(valStart, valStart + 8),
      );
      assert.deepEqual(
        Array.from(first.targets!.subarray(8)),
        stream.slice(valStart + 9, valStart + 17),
      );
      assert.equal(train.next().inputIds.length, 16);
    } finally {
      close();
    }
  });
});

Deno.test("mlm loaders: validation masks statically so every evaluation matches", async () => {
  await withDataset((dir) => {
    const tokenizer = new BytesTokenizer();
    const ds = loadDataset(dir, tokenizer);
    const spec = { objective: "mlm", tokenizer, B: 2, T: 12, masking: "dynamic" } as const;
    const a = datasetLoaders(ds, spec);
    const b = datasetLoaders(ds, spec);
    try {
      assert.ok(a.val instanceof MlmLoader);
      assert.equal(a.val.state().masking, "static");
      assert.equal(a.train.state().masking, "dynamic");
      const n = a.val.batchesPerEpoch;
      const once = Array.from({ length: n }, () => a.val!.next());
      for (let i = 0; i < 3; i++) b.val!.next(); // A different step count...
      b.val!.restore({ ...b.val!.state(), epoch: 0, cursor: 0 });
      for (const batch of once) assert.deepEqual(b.val!.next(), batch); // ...same batches.
    } finally {
      a.close();
      b.close();
    }
  });
});

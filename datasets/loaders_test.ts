import assert from "node:assert/strict";
import { join } from "node:path";
import { BytesTokenizer } from "./bytes_tokenizer.ts";
import { CausalLoader } from "./causal_loader.ts";
import { loadDataset } from "./dataset_meta.ts";
import { MLM_MASK_RATE } from "../core/train/batch.ts";
import { DatasetError } from "./errors.ts";
import { datasetLoaders, type LoaderSpec, openLoaders } from "./loaders.ts";
import { MlmLoader } from "./mlm_loader.ts";
import { prepare } from "./prepare.ts";
import { writeNanoGptShard } from "./shard.ts";
import { CAN_LIST_OPEN_FILES, openFilesUnder } from "./testing.ts";

const TEXT = "It is not down on any map; true places never are. ".repeat(20);

async function withDataset(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tempo_loaders_" });
  try {
    await Deno.writeTextFile(join(dir, "a.txt"), TEXT);
    await prepare({
      inputs: join(dir, "a.txt"),
      outDir: join(dir, "ds"),
      tokenizer: new BytesTokenizer(),
    });
    await fn(join(dir, "ds"));
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

/** A llm.c 20240801 v7 (uint32) shard, written byte by byte as llm.c's Llama 3 scripts do. */
function llmcU32(path: string, tokens: number[]): void {
  const bytes = new Uint8Array(1024 + 4 * tokens.length);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, 20240801, true);
  view.setInt32(4, 7, true);
  view.setInt32(8, tokens.length, true);
  tokens.forEach((t, i) => view.setUint32(1024 + 4 * i, t, true));
  Deno.writeFileSync(path, bytes);
}

/** Fails if any file under dir is still open (where the system can tell; see testing.ts). */
function noneOpen(dir: string): void {
  if (CAN_LIST_OPEN_FILES) assert.deepEqual(openFilesUnder(dir), [], "files left open");
}
Deno.test("openLoaders: default corpus, dataset folder and shard files, each described", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tempo_open_loaders_" });
  try {
    const tokenizer = new BytesTokenizer();
    const spec = { objective: "causal", tokenizer, B: 2, T: 8, seed: 3 } as const;
    const moby = await openLoaders({ cacheDir: join(dir, "cache") }, spec);
    try {
      assert.match(
        moby.description,
        /^embedded Moby Dick, llm\.c uint16 \(20240520 v1\), [\d,]+ train \+ [\d,]+ val tokens, tokenizer bytes$/,
      );
      assert.ok(moby.val !== null && moby.shards.length === 2);
      if (CAN_LIST_OPEN_FILES) assert.equal(openFilesUnder(dir).length, 2);
    } finally {
      moby.close();
    }
    noneOpen(dir);
    const again = await openLoaders({ cacheDir: join(dir, "cache") }, spec);
    again.close();
    noneOpen(dir);
    assert.match(again.description, /^embedded Moby Dick \(cached\), /);

    await Deno.writeTextFile(join(dir, "a.txt"), TEXT);
    await prepare({ inputs: join(dir, "a.txt"), outDir: join(dir, "ds"), tokenizer });
    const folder = await openLoaders({ paths: [join(dir, "ds")] }, spec);
    folder.close();
    noneOpen(dir);
    assert.match(
      folder.description,
      /ds, llm\.c uint16 \(20240520 v1\), 951 train \+ 50 val tokens/,
    );

    const stream = [...tokenizer.encode(TEXT), tokenizer.eotId];
    llmcU32(join(dir, "a.bin"), stream.slice(0, 600));
    llmcU32(join(dir, "b.bin"), stream.slice(600));
    const files = await openLoaders({ paths: [join(dir, "a.bin"), join(dir, "b.bin")] }, spec);
    try {
      assert.equal(
        files.description,
        `2 shards (${join(dir, "a.bin")}, ${join(dir, "b.bin")}), llm.c uint32 (20240801 v7), ` +
          `1,001 tokens`,
      );
      assert.equal(files.val, null);
      assert.ok(files.train instanceof CausalLoader);
      assert.equal(files.train.windows, Math.floor(1000 / 8));
      if (CAN_LIST_OPEN_FILES) assert.equal(openFilesUnder(dir).length, 2);
    } finally {
      files.close();
      files.close(); // Twice is harmless.
    }
    noneOpen(dir);
    writeNanoGptShard(join(dir, "c.bin"), stream.slice(0, 300));
    const mixed = await openLoaders({ paths: [join(dir, "a.bin"), join(dir, "c.bin")] }, spec);
    mixed.close();
    noneOpen(dir);
    assert.match(
      mixed.description,
      /, 1 x llm\.c uint32 \(20240801 v7\) \+ 1 x nanoGPT uint16 \(headerless\), 900 tokens$/,
    );
    {
      using held = await openLoaders({ paths: [join(dir, "a.bin")] }, spec); // Closed by `using`.
      assert.equal(held.shards[0].layout, "llmc-u32");
    }
    noneOpen(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openLoaders: bad sources are one-line errors and leave no file open", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tempo_open_loaders_" });
  try {
    const tokenizer = new BytesTokenizer();
    const spec = { objective: "causal", tokenizer, B: 2, T: 8 } as const;
    const stream = [...tokenizer.encode(TEXT), tokenizer.eotId];
    llmcU32(join(dir, "a.bin"), stream);
    const bad = async (paths: string[], re: RegExp, s: LoaderSpec = spec) => {
      const err = await openLoaders({ paths }, s).then(() => null, (e) => e);
      assert.ok(err instanceof DatasetError, `${paths}: ${err}`);
      assert.match(err.message, re);
      assert.ok(!err.message.includes("\n"));
      noneOpen(dir);
    };
    await bad([join(dir, "a.bin"), join(dir, "nope.bin")], /nope\.bin: no such file or folder/);
    await bad([join(dir, "a.bin"), dir], /is a folder, given among other paths/);
    // Opened, then refused by the loader (too short for one window): the file is closed again.
    await bad([join(dir, "a.bin")], /needs T \+ 1 = 2001/, { ...spec, T: 2000 });
    // The second shard is refused after the first was opened.
    llmcU32(join(dir, "big.bin"), [1, 2, 70000]);
    await bad([join(dir, "a.bin"), join(dir, "big.bin")], /token id 70000 at position 2/);
    await bad(
      [join(dir, "a.bin")],
      /token id \d+ at position \d+ is outside the vocabulary \(valid ids are 0\.\.9\)/,
      {
        ...spec,
        vocabSize: 10,
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openLoaders: masked-LM spec (static/dynamic, NSP, mask rate) and a too-short val split", async () => {
  await withDataset(async (dir) => {
    const tokenizer = new BytesTokenizer();
    const spec = {
      objective: "mlm",
      tokenizer,
      B: 2,
      T: 12,
      nsp: true,
      masking: "static",
    } as const;
    const data = await openLoaders({ paths: [dir] }, spec);
    try {
      assert.ok(data.train instanceof MlmLoader && data.val instanceof MlmLoader);
      assert.equal(data.train.maskedPerSeq, Math.ceil(MLM_MASK_RATE * 12));
      const s = data.train.state();
      assert.deepEqual([s.masking, s.nsp, s.maskProb, s.seed], ["static", true, MLM_MASK_RATE, 0]);
      assert.deepEqual([data.val.state().masking, data.val.state().seed], ["static", 1]);
      assert.equal(data.train.next().nspLabels!.length, 2);
    } finally {
      data.close();
    }
    noneOpen(dir);
    // The 50-token validation split is shorter than T + 2 = 52: no validation, file closed.
    const long = await openLoaders({ paths: [dir] }, { ...spec, T: 50 });
    long.close();
    noneOpen(dir);
    assert.equal(long.val, null);
    assert.doesNotMatch(long.description, /val/);
  });
});

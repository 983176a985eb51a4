/**
 * The one way a run gets its batches: a data source (the embedded default corpus, a prepared
 * dataset folder, or shard files) and a loader spec (objective, batch shape, masking) become a
 * train loader, a validation loader and a `close()` for the shard files they read.
 *
 * The train loader shuffles. The validation loader visits its split in order with seed + 1 and,
 * for masked LM, masks statically, so every evaluation sees the same batches (and its masks are
 * not those of the train chunks with the same index). A validation split of at most T + 1 tokens
 * is left out. Shard files given directly are all training data.
 *
 * @module
 */

import { type BatchSlice, MLM_MASK_RATE } from "../core/train/batch.ts";
import { CausalLoader } from "./causal_loader.ts";
import { type Dataset, loadDataset } from "./dataset_meta.ts";
import { defaultCorpus } from "./default_corpus.ts";
import { DatasetError, fileError } from "./errors.ts";
import { type MaskingMode, MlmLoader } from "./mlm_loader.ts";
import { layoutLabel, type ShardFormat, type ShardInfo } from "./shard_format.ts";
import { openShards, type ShardStream } from "./shard_reader.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** Where a run's tokens come from. */
export interface DataSource {
  /** One prepared dataset folder, or shard files in order; none = the embedded default corpus. */
  paths?: readonly string[];
  /** Layout of shard files given directly; default "auto". A folder's shards are always llm.c. */
  format?: ShardFormat;
  /** Cache root of the default corpus; default defaultCacheDir(). */
  cacheDir?: string;
}

/** What batches to make. */
export interface LoaderSpec {
  /** "causal" (GPT-2) or "mlm" (BERT, RoBERTa). */
  objective: "causal" | "mlm";
  /** The data's tokenizer (special ids; a dataset folder must have been made by it). */
  tokenizer: Tokenizer;
  /** V that every id must be below (the model's); default tokenizer.vocabSize. */
  vocabSize?: number;
  /** Batch size B. */
  B: number;
  /** Sequence length T. */
  T: number;
  /** Seed; default 0 (the validation loader takes seed + 1). */
  seed?: number;
  /** MLM train masking; default "dynamic" ("static" for BERT's recipe). Validation: static. */
  masking?: MaskingMode;
  /** MLM mask fraction; default MLM_MASK_RATE. */
  maskProb?: number;
  /** MLM next-sentence prediction; default false. */
  nsp?: boolean;
  /**
   * The train loader's micro-batches of each global batch (a data-parallel rank's); default all.
   * The validation loader always yields every batch.
   */
  slice?: BatchSlice;
}

/** A run's loaders and a close() for their files. */
export interface DatasetLoaders {
  /** Shuffled training batches. */
  train: CausalLoader | MlmLoader;
  /** In-order validation batches (one epoch = val.batchesPerEpoch batches), or null. */
  val: CausalLoader | MlmLoader | null;
  /** One line for a run header: the source, the detected layout(s) and token counts. */
  description: string;
  /** Every shard opened (train first) with its detected layout. */
  shards: readonly ShardInfo[];
  /** Closes the shard files. Safe to call twice. */
  close(): void;
  /** The same as close(), for `using`. */
  [Symbol.dispose](): void;
}

const count = (n: number) => n.toLocaleString("en-US");

/** The layouts of `shards` in one phrase, e.g. "llm.c uint32 (20240801 v7)". */
export function describeLayouts(shards: readonly ShardInfo[]): string {
  const tally = new Map<string, number>();
  for (const s of shards) {
    const label = layoutLabel(s.layout);
    tally.set(label, (tally.get(label) ?? 0) + 1);
  }
  if (tally.size === 1) return [...tally.keys()][0];
  return [...tally].map(([label, n]) => `${n} x ${label}`).join(" + ");
}

function describeFiles(paths: readonly string[]): string {
  if (paths.length === 1) return paths[0];
  const shown = paths.length <= 3 ? paths.join(", ") : `${paths[0]} ... ${paths.at(-1)}`;
  return `${paths.length} shards (${shown})`;
}

function loaderFor(
  tokens: ShardStream,
  spec: LoaderSpec,
  shuffle: boolean,
): CausalLoader | MlmLoader {
  const seed = (spec.seed ?? 0) + (shuffle ? 0 : 1);
  const slice = shuffle ? spec.slice : undefined;
  const common = { tokens, B: spec.B, T: spec.T, seed, shuffle, slice };
  if (spec.objective === "causal") {
    return new CausalLoader({ ...common, vocabSize: spec.vocabSize ?? spec.tokenizer.vocabSize });
  }
  return new MlmLoader({
    ...common,
    tokenizer: spec.tokenizer,
    masking: shuffle ? spec.masking : "static",
    maskProb: spec.maskProb ?? MLM_MASK_RATE,
    nsp: spec.nsp,
  });
}

/** Makes the loaders over opened streams; on any error closes them, else hands them over. */
function loadersOver(
  trainTokens: ShardStream,
  valTokens: ShardStream | null,
  spec: LoaderSpec,
  describe: (train: ShardStream, val: ShardStream | null) => string,
): DatasetLoaders {
  const opened = valTokens ? [trainTokens, valTokens] : [trainTokens];
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    for (const s of opened) s.close();
  };
  try {
    const train = loaderFor(trainTokens, spec, true);
    const useVal = valTokens !== null && valTokens.length > spec.T + 1;
    const val = useVal ? loaderFor(valTokens, spec, false) : null;
    return {
      train,
      val,
      description: describe(trainTokens, useVal ? valTokens : null),
      shards: opened.flatMap((s) => s.shards),
      close,
      [Symbol.dispose]: close,
    };
  } catch (e) {
    close();
    throw e;
  }
}

/**
 * Opens a loaded dataset's shards (always llm.c layouts: tempo wrote them) and makes its loaders.
 *
 * @param name How the description names the data; default the train shard's path.
 */
export function datasetLoaders(
  dataset: Dataset,
  spec: LoaderSpec,
  name: string = dataset.train,
): DatasetLoaders {
  const vocabSize = spec.vocabSize ?? spec.tokenizer.vocabSize;
  const trainTokens = openShards(dataset.train, { vocabSize });
  let valTokens: ShardStream | null = null;
  try {
    if (dataset.val !== null) valTokens = openShards(dataset.val, { vocabSize });
  } catch (e) {
    trainTokens.close();
    throw e;
  }
  return loadersOver(
    trainTokens,
    valTokens,
    spec,
    (train, val) =>
      `${name}, ${describeLayouts(train.shards)}, ${count(train.length)} train` +
      (val ? ` + ${count(val.length)} val` : "") + ` tokens, tokenizer ${dataset.meta.tokenizer}`,
  );
}

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw fileError(path, e, "Check the path and its permissions.");
  }
}

/**
 * Resolves a data source and makes its loaders: no paths = the embedded default corpus (built
 * and cached on first use), one folder = a prepared dataset (its meta.json must name this
 * tokenizer), otherwise shard files of `source.format`. Throws a DatasetError (one line) for a
 * missing path, a folder among files, or any shard the format rules refuse.
 */
export async function openLoaders(
  source: DataSource,
  spec: LoaderSpec,
): Promise<DatasetLoaders> {
  const paths = source.paths ?? [];
  if (paths.length === 0) {
    const ds = await defaultCorpus(spec.tokenizer, { cacheDir: source.cacheDir });
    return datasetLoaders(ds, spec, `embedded Moby Dick${ds.cached ? " (cached)" : ""}`);
  }
  const stats = paths.map(statOrNull);
  const missing = paths.filter((_, i) => stats[i] === null);
  if (missing.length > 0) {
    throw new DatasetError(
      `${missing.join(", ")}: no such file or folder. Pass a folder made by \`tempo prepare\`, ` +
        `or .bin shard files (llm.c or nanoGPT).`,
    );
  }
  if (paths.length === 1 && stats[0]!.isDirectory) {
    return datasetLoaders(loadDataset(paths[0], spec.tokenizer), spec, paths[0]);
  }
  const folder = paths.find((_, i) => stats[i]!.isDirectory);
  if (folder !== undefined) {
    throw new DatasetError(
      `${folder} is a folder, given among other paths. Pass one dataset folder, or shard files.`,
    );
  }
  const vocabSize = spec.vocabSize ?? spec.tokenizer.vocabSize;
  const tokens = openShards(paths, { format: source.format ?? "auto", vocabSize });
  return loadersOver(
    tokens,
    null,
    spec,
    (train) =>
      `${describeFiles(paths)}, ${describeLayouts(train.shards)}, ${count(train.length)} tokens`,
  );
}

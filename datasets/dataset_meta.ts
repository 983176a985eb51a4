/**
 * `meta.json`, written beside a prepared dataset's shards: which tokenizer made them and how many
 * tokens each split has, so a training run can check that the data matches its model.
 *
 * @module
 */

import { join } from "node:path";
import { DatasetError, fileError } from "./errors.ts";
import { inspectShard } from "./shard_format.ts";
import type { CorpusSplit } from "./corpus_writer.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** Format tag of meta.json. */
export const DATASET_META_FORMAT = "tempo-dataset/1";
/** File name of the metadata inside a dataset folder. */
export const DATASET_META_FILE = "meta.json";

/** Contents of meta.json. Shard names are relative to the dataset folder. */
export interface DatasetMeta {
  /** Always DATASET_META_FORMAT. */
  format: typeof DATASET_META_FORMAT;
  /** What the text was, e.g. "moby-dick" or "prepare". */
  source: string;
  /** Tokenizer name (see tokenizerByName). */
  tokenizer: string;
  /** Tokenizer vocabulary size. */
  vocabSize: number;
  /** The id written after each document. */
  eotId: number;
  /** Train shard file name. */
  train: string;
  /** Validation shard file name, or null. */
  val: string | null;
  /** Tokens in the train shard. */
  trainTokens: number;
  /** Tokens in the validation shard. */
  valTokens: number;
  /** Validation fraction used for the split. */
  valFraction: number;
  /** Documents written. */
  documents: number;
}

/** A dataset folder resolved to absolute-or-given shard paths. */
export interface Dataset {
  /** The metadata. */
  meta: DatasetMeta;
  /** Train shard path. */
  train: string;
  /** Validation shard path, or null. */
  val: string | null;
}

/** Writes meta.json atomically (temp file + rename). */
export function writeDatasetMeta(dir: string, meta: DatasetMeta): void {
  const path = join(dir, DATASET_META_FILE);
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    Deno.writeTextFileSync(tmp, JSON.stringify(meta, null, 2) + "\n");
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // Never created.
    }
    throw fileError(path, e, "Check that the folder is writable and has free space.");
  }
}

/**
 * Reads a dataset folder's meta.json and checks its shards' headers against it (so a missing,
 * damaged or half-replaced shard is reported here). With a tokenizer, also checks that the data
 * was made by it. Throws a DatasetError when the folder is not a usable prepared dataset.
 */
export function loadDataset(dir: string, tokenizer?: Tokenizer): Dataset {
  const path = join(dir, DATASET_META_FILE);
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DatasetError(
        `${dir} is not a prepared dataset (no ${DATASET_META_FILE}). Create one with ` +
          `\`tempo prepare <text files or folders> --out ${dir}\`, or pass shard files directly.`,
      );
    }
    throw fileError(path, e, "Check that the dataset folder is readable.");
  }
  let meta: DatasetMeta;
  try {
    meta = JSON.parse(text);
  } catch {
    throw new DatasetError(`${path} is not valid JSON. Re-create the dataset with tempo prepare.`);
  }
  if (meta?.format !== DATASET_META_FORMAT || typeof meta.train !== "string") {
    throw new DatasetError(
      `${path} is not a ${DATASET_META_FORMAT} file. Re-create the dataset with tempo prepare.`,
    );
  }
  if (
    tokenizer && (meta.tokenizer !== tokenizer.name || meta.vocabSize !== tokenizer.vocabSize)
  ) {
    throw new DatasetError(
      `Dataset ${dir} was tokenized with "${meta.tokenizer}" (V=${meta.vocabSize}) but this run ` +
        `uses "${tokenizer.name}" (V=${tokenizer.vocabSize}). Re-run prepare with ` +
        `--tokenizer ${tokenizer.name}, or use a model that matches the data.`,
    );
  }
  const train = join(dir, meta.train);
  const val = meta.val === null ? null : join(dir, meta.val);
  for (const [path, expected] of [[train, meta.trainTokens], [val, meta.valTokens]] as const) {
    if (path === null) continue;
    const tokens = inspectShard(path).tokens;
    if (tokens !== expected) {
      throw new DatasetError(
        `Shard ${path} has ${tokens} tokens but ${DATASET_META_FILE} says ${expected}: the ` +
          `dataset in ${dir} is inconsistent (an interrupted prepare?). Re-run tempo prepare.`,
      );
    }
  }
  return { meta, train, val };
}

/** The meta.json record of a finished split (train.bin, and val.bin unless it is empty). */
export function metaOfSplit(
  source: string,
  tokenizer: Tokenizer,
  split: CorpusSplit,
  valFraction: number,
): DatasetMeta {
  return {
    format: DATASET_META_FORMAT,
    source,
    tokenizer: tokenizer.name,
    vocabSize: tokenizer.vocabSize,
    eotId: tokenizer.eotId,
    train: "train.bin",
    val: split.val === null ? null : "val.bin",
    trainTokens: split.trainTokens,
    valTokens: split.valTokens,
    valFraction,
    documents: split.documents,
  };
}

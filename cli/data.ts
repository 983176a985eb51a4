/**
 * Wiring of data for a run: the embedded default corpus, a prepared dataset folder, or shard
 * files, turned into train/validation batch sources for the model's architecture.
 * @module
 */
import { TempoError } from "../core/errors.ts";
import type { BatchSource } from "../core/train/batch.ts";
import { CausalLoader } from "../datasets/causal_loader.ts";
import { type Dataset, loadDataset } from "../datasets/dataset_meta.ts";
import { defaultCorpus } from "../datasets/default_corpus.ts";
import { openShards } from "../datasets/shard_reader.ts";
import type { ShardFormat } from "../datasets/shard_format.ts";
import { tokenizerByName } from "../datasets/tokenizer_by_name.ts";
import type { TokenStream } from "../datasets/token_stream.ts";
import type { ModelConfig } from "../models/config.ts";
import { makeMlmSource } from "./mlm_source.ts";

/** Where the data comes from, as flags say. */
export interface DataFlags {
  /** A dataset folder (meta.json), a shard file, or a comma list of shard files; undefined = default corpus. */
  data?: string;
  /** Shard layout for files: auto | llmc | nanogpt. */
  format: string;
  /** B. */
  batch: number;
  /** T. */
  seqLen: number;
  /** Seed. */
  seed: number;
}

/** Train and validation sources plus a description. */
export interface RunData {
  /** Training batches. */
  train: BatchSource;
  /** Validation batches, or null when the data has no validation split. */
  val: BatchSource | null;
  /** e.g. "moby-dick (cached), 245,000 tokens, tokenizer bytes". */
  description: string;
}

async function exists(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch {
    return null;
  }
}

/** Resolve the flags to batch sources for `cfg`. */
export async function openRunData(cfg: ModelConfig, f: DataFlags): Promise<RunData> {
  const tokenizer = tokenizerByName(cfg.tokenizer);
  if (tokenizer.vocabSize > cfg.vocabSize) {
    throw new TempoError(
      `tokenizer ${tokenizer.name} has ${tokenizer.vocabSize} ids but ${cfg.name} only ${cfg.vocabSize}`,
    );
  }
  let trainStream: TokenStream, valStream: TokenStream | null = null, description: string;
  const opts = { vocabSize: cfg.vocabSize };
  if (!f.data) {
    const ds = await defaultCorpus(tokenizer);
    ({ trainStream, valStream } = openDataset(ds, opts));
    description = `embedded Moby Dick${ds.cached ? " (cached)" : ""}, ` +
      `${ds.meta.trainTokens.toLocaleString("en-US")} train tokens, tokenizer ${tokenizer.name}`;
  } else {
    const paths = f.data.split(",").map((s) => s.trim()).filter(Boolean);
    const infos = await Promise.all(paths.map(exists));
    const missing = paths.filter((_, i) => !infos[i]);
    if (missing.length > 0) {
      throw new TempoError(
        `--data ${missing.join(", ")}: no such file or folder`,
        "pass a folder made by `tempo prepare`, or .bin shard files (llm.c or nanoGPT)",
      );
    }
    if (paths.length === 1 && infos[0]!.isDirectory) {
      const ds = loadDataset(paths[0], tokenizer);
      ({ trainStream, valStream } = openDataset(ds, opts));
      description = `${paths[0]}, ${ds.meta.trainTokens.toLocaleString("en-US")} train tokens`;
    } else {
      const format = f.format as ShardFormat;
      if (!["auto", "llmc", "nanogpt"].includes(format)) {
        throw new TempoError(`--format '${f.format}' is unknown`, "use auto, llmc or nanogpt");
      }
      trainStream = openShards(paths, { ...opts, format });
      description = `${paths.join(", ")}, ${trainStream.length.toLocaleString("en-US")} tokens`;
    }
  }
  const make = (tokens: TokenStream, shuffle: boolean, seed: number): BatchSource =>
    cfg.arch === "gpt2"
      ? new CausalLoader({
        tokens,
        B: f.batch,
        T: f.seqLen,
        seed,
        shuffle,
        vocabSize: cfg.vocabSize,
      })
      : makeMlmSource(cfg, tokenizer, tokens, f.batch, f.seqLen, seed, shuffle);
  return {
    train: make(trainStream, true, f.seed),
    val: valStream && valStream.length > f.seqLen + 1 ? make(valStream, false, f.seed + 1) : null,
    description,
  };
}

function openDataset(ds: Dataset, opts: { vocabSize: number }) {
  return {
    trainStream: openShards(ds.train, opts),
    valStream: ds.val ? openShards(ds.val, opts) : null,
  };
}

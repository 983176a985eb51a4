/**
 * Wiring of data for a run: flags and the model's config -> `openLoaders` (datasets/loaders.ts),
 * which opens the embedded default corpus, a prepared dataset folder or shard files.
 * @module
 */
import { TempoError } from "../core/errors.ts";
import type { BatchSlice, BatchSource } from "../core/train/batch.ts";
import { type LoaderSpec, openLoaders } from "../datasets/loaders.ts";
import { SHARD_FORMATS, type ShardFormat } from "../datasets/shard_format.ts";
import { tokenizerByName } from "../datasets/tokenizer_by_name.ts";
import { archOf } from "../models/arch.ts";
import type { ModelConfig } from "../models/config.ts";

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
  /** A data-parallel rank's micro-batches of each global batch (training data); default all. */
  slice?: BatchSlice;
}

/** Train and validation sources, a description, and close() for their files. */
export interface RunData {
  /** Training batches. */
  train: BatchSource;
  /** Validation batches (in order; one pass is `batchesPerEpoch`), or null without a split. */
  val: (BatchSource & { readonly batchesPerEpoch: number }) | null;
  /** e.g. "2 shards (a.bin, b.bin), llm.c uint32 (20240801 v7), 1,234,567 tokens". */
  description: string;
  /** Closes the shard files (call it in a finally, or hold the result with `using`). */
  close(): void;
  /** close(), for `using`. */
  [Symbol.dispose](): void;
}

/** The batches a model of this config trains on: BERT static masks, RoBERTa dynamic, GPT-2 causal. */
function objectiveOf(cfg: ModelConfig): Pick<LoaderSpec, "objective" | "masking" | "nsp"> {
  const arch = archOf(cfg);
  if (arch.objective === "lm") return { objective: "causal" };
  return { objective: "mlm", masking: arch.masking ?? "static", nsp: cfg.nsp };
}

/** Resolve the flags to batch sources for `cfg`. The caller closes the result. */
export async function openRunData(cfg: ModelConfig, f: DataFlags): Promise<RunData> {
  const tokenizer = tokenizerByName(cfg.tokenizer);
  if (tokenizer.vocabSize > cfg.vocabSize) {
    throw new TempoError(
      `tokenizer ${tokenizer.name} has ${tokenizer.vocabSize} ids but ${cfg.name} only ${cfg.vocabSize}`,
    );
  }
  if (!(SHARD_FORMATS as readonly string[]).includes(f.format)) {
    throw new TempoError(`--format '${f.format}' is unknown`, `use ${SHARD_FORMATS.join(", ")}`);
  }
  const paths = f.data?.split(",").map((s) => s.trim()).filter(Boolean) ?? [];
  return await openLoaders({ paths, format: f.format as ShardFormat }, {
    ...objectiveOf(cfg),
    tokenizer,
    vocabSize: cfg.vocabSize,
    B: f.batch,
    T: f.seqLen,
    seed: f.seed,
    slice: f.slice,
  });
}

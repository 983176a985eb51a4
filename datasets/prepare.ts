/**
 * `prepare`: text files or folders -> `train.bin` + `val.bin` (llm.c shards) + `meta.json` in an
 * output folder. Files are streamed in 1 MiB chunks, so corpora larger than memory work; each file
 * is one document, followed by the tokenizer's end-of-document id. The validation shard holds the
 * last `valFraction` of all tokens.
 *
 * @module
 */

import { join } from "node:path";
import { CorpusWriter } from "./corpus_writer.ts";
import { fileError } from "./errors.ts";
import { metaOfSplit, writeDatasetMeta } from "./dataset_meta.ts";
import { TextChunker } from "./text_chunker.ts";
import { findTextFiles, TEXT_EXTENSIONS } from "./text_files.ts";
import type { Tokenizer } from "./tokenizer.ts";

const READ_BYTES = 1 << 20;

/** What to prepare and where. */
export interface PrepareOptions {
  /** Text files (any extension) and/or folders (searched recursively). */
  inputs: string | readonly string[];
  /** Output folder; created if missing. Gets train.bin, val.bin and meta.json. */
  outDir: string;
  /** Tokenizer to encode with. */
  tokenizer: Tokenizer;
  /** Fraction of tokens (from the end) for validation, in [0, 0.5]; default 0.05. */
  valFraction?: number;
  /** Extensions taken from folders; default TEXT_EXTENSIONS (.txt .text .md .markdown .rst). */
  extensions?: readonly string[];
  /** Called after each chunk with bytes read so far and the total bytes of all files. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

/** What prepare produced. */
export interface PrepareSummary {
  /** Number of input files read. */
  files: number;
  /** Total input bytes. */
  bytes: number;
  /** Documents that produced tokens. */
  documents: number;
  /** Total tokens (train + val). */
  tokens: number;
  /** Tokens in the train shard. */
  trainTokens: number;
  /** Tokens in the validation shard. */
  valTokens: number;
  /** Train shard path. */
  train: string;
  /** Validation shard path, or null when valFraction is 0. */
  val: string | null;
  /** meta.json path. */
  meta: string;
}

/**
 * Tokenizes text files into train/validation shards. Throws a DatasetError for a missing input,
 * no text files, an empty corpus or a bad valFraction; on error no new shard is published.
 */
export async function prepare(options: PrepareOptions): Promise<PrepareSummary> {
  const { outDir, tokenizer, onProgress } = options;
  const valFraction = options.valFraction ?? 0.05;
  const inputs = typeof options.inputs === "string" ? [options.inputs] : options.inputs;
  const files = await findTextFiles(inputs, options.extensions ?? TEXT_EXTENSIONS);
  const totalBytes = files.reduce((s, f) => s + f.size, 0);
  await Deno.mkdir(outDir, { recursive: true }).catch((e) => {
    throw fileError(outDir, e, "Pick an output folder you can write to.");
  });
  const writer = new CorpusWriter(tokenizer, {
    trainPath: join(outDir, "train.bin"),
    valPath: join(outDir, "val.bin"),
    valFraction,
  });
  let doneBytes = 0;
  try {
    onProgress?.(0, totalBytes);
    const buf = new Uint8Array(READ_BYTES);
    for (const f of files) {
      const file = await Deno.open(f.path, { read: true }).catch((e) => {
        throw fileError(f.path, e, "Check that the file is readable.");
      });
      try {
        const decoder = new TextDecoder();
        const chunker = new TextChunker();
        for (;;) {
          const n = await file.read(buf);
          if (n === null) break;
          writer.addText(chunker.push(decoder.decode(buf.subarray(0, n), { stream: true })));
          doneBytes += n;
          onProgress?.(Math.min(doneBytes, totalBytes), totalBytes);
        }
        writer.addText(chunker.push(decoder.decode()));
        writer.addText(chunker.flush());
        writer.endDocument();
      } finally {
        file.close();
      }
    }
  } catch (e) {
    writer.abort();
    throw e;
  }
  const split = writer.finish();
  onProgress?.(totalBytes, totalBytes);
  const meta = metaOfSplit("prepare", tokenizer, split, valFraction);
  if (split.val === null) await Deno.remove(join(outDir, "val.bin")).catch(() => {});
  writeDatasetMeta(outDir, meta);
  return {
    files: files.length,
    bytes: totalBytes,
    documents: split.documents,
    tokens: split.trainTokens + split.valTokens,
    trainTokens: split.trainTokens,
    valTokens: split.valTokens,
    train: split.train,
    val: split.val,
    meta: join(outDir, "meta.json"),
  };
}

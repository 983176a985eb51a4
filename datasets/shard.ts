/**
 * Whole-shard convenience functions: read a shard into memory, write one from an array. The
 * formats are described in shard_format.ts; large shards are streamed with ShardReader and
 * ShardWriter.
 *
 * @module
 */

import { checkIds } from "./check_ids.ts";
import type { ShardFormat } from "./shard_format.ts";
import { ShardReader } from "./shard_reader.ts";
import { ShardWriter } from "./shard_writer.ts";

/** Options for reading a whole shard. */
export interface ReadShardOptions {
  /** Layout; default "llmc". */
  format?: ShardFormat;
  /** When given, every id must be < vocabSize (else a DatasetError names the first bad one). */
  vocabSize?: number;
}

/** Reads a whole shard into memory as [N] Int32Array. For large shards use ShardReader. */
export function readShard(path: string, options: ReadShardOptions = {}): Int32Array {
  const reader = ShardReader.open(path, options);
  try {
    const out = new Int32Array(reader.length);
    reader.read(0, out); // Checks every id when options.vocabSize is given.
    return out;
  } finally {
    reader.close();
  }
}

/**
 * Writes `tokens` as an llm.c shard, atomically (temp file + rename): readers see the old file or
 * the complete new one. Version 1 (uint16) if vocabSize <= 65536, else 2 (uint32). Returns the
 * number of tokens written.
 */
export function writeShard(
  path: string,
  tokens: ArrayLike<number>,
  options: { vocabSize: number },
): number {
  const writer = ShardWriter.create(path, options);
  try {
    writer.write(tokens);
    return writer.close();
  } catch (e) {
    writer.abort();
    throw e;
  }
}

/** Writes `tokens` as a headerless nanoGPT uint16 file, atomically (for interop and tests). */
export function writeNanoGptShard(path: string, tokens: ArrayLike<number>): void {
  checkIds(tokens, 65536, `nanoGPT shard ${path}`);
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  Deno.writeFileSync(tmp, new Uint8Array(Uint16Array.from(tokens).buffer));
  Deno.renameSync(tmp, path);
}

/**
 * The token shard formats, and header validation.
 *
 * llm.c format: a header of 256 little-endian int32 — [0] magic 20240520, [1] version, [2] token
 * count, the rest zero — then the tokens, little-endian. Version 1 stores uint16 tokens (any
 * vocabulary of at most 65536 ids: GPT-2, BERT, RoBERTa, bytes); version 2 stores uint32 tokens
 * (larger vocabularies). The writer picks the version from the vocabulary size.
 *
 * nanoGPT format: headerless little-endian uint16 tokens (nanoGPT's `train.bin` / `val.bin`).
 *
 * Typed arrays use the host byte order; every platform Deno ships for is little-endian.
 *
 * @module
 */

import { DatasetError } from "./errors.ts";

/** llm.c shard magic number (header int 0). */
export const SHARD_MAGIC = 20240520;
/** llm.c header size in bytes (256 int32). */
export const SHARD_HEADER_BYTES = 1024;
/** Largest token count one shard can hold (the header count is an int32). */
export const MAX_SHARD_TOKENS = 0x7fffffff;

/** On-disk layouts: llm.c (with header), nanoGPT (headerless uint16), or detect from the magic. */
export type ShardFormat = "llmc" | "nanogpt" | "auto";

/** What `inspectShard` learned from a shard's header and size. */
export interface ShardInfo {
  /** The file. */
  path: string;
  /** Detected layout. */
  format: "llmc" | "nanogpt";
  /** llm.c version (1 = uint16, 2 = uint32); nanoGPT files report 1. */
  version: 1 | 2;
  /** 2 or 4. */
  bytesPerToken: 2 | 4;
  /** Byte offset of token 0 (1024 for llm.c, 0 for nanoGPT). */
  dataOffset: number;
  /** Number of tokens. */
  tokens: number;
}

/** The llm.c version a shard for this vocabulary size gets: 1 (uint16) if V <= 65536, else 2. */
export function shardVersionFor(vocabSize: number): 1 | 2 {
  if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > 0x100000000) {
    throw new DatasetError(`Vocabulary size must be an integer in [1, 2^32], got ${vocabSize}.`);
  }
  return vocabSize <= 65536 ? 1 : 2;
}

/** The 1024-byte llm.c header for `tokens` tokens of the given version. */
export function encodeShardHeader(version: 1 | 2, tokens: number): Uint8Array {
  const header = new Uint8Array(SHARD_HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setInt32(0, SHARD_MAGIC, true);
  view.setInt32(4, version, true);
  view.setInt32(8, tokens, true);
  return header;
}

function statFile(path: string): Deno.FileInfo {
  try {
    return Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DatasetError(
        `Shard ${path} does not exist. Check the path, or create shards with \`tempo prepare\`.`,
      );
    }
    throw e;
  }
}

function readPrefix(path: string, n: number): Uint8Array {
  const file = Deno.openSync(path, { read: true });
  try {
    const buf = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const r = file.readSync(buf.subarray(got));
      if (r === null) break;
      got += r;
    }
    return buf.subarray(0, got);
  } finally {
    file.close();
  }
}

/**
 * Reads and validates a shard's header and size without reading its tokens. Throws a DatasetError
 * for a missing file, wrong magic, unsupported version, truncated or oversized file, or an
 * empty shard.
 */
export function inspectShard(path: string, format: ShardFormat = "llmc"): ShardInfo {
  const stat = statFile(path);
  if (!stat.isFile) throw new DatasetError(`Shard ${path} is not a file. Pass a .bin shard file.`);
  const size = stat.size;
  const prefix = readPrefix(path, Math.min(size, SHARD_HEADER_BYTES));
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const hasMagic = prefix.length >= 4 && view.getInt32(0, true) === SHARD_MAGIC;
  if (format === "nanogpt" || (format === "auto" && !hasMagic)) return nanoGptInfo(path, size);
  if (format !== "llmc" && format !== "auto") {
    throw new DatasetError(`Unknown shard format "${format}". Use "llmc", "nanogpt" or "auto".`);
  }
  if (size === 0) {
    throw new DatasetError(`Shard ${path} is empty (0 bytes). Re-create it from non-empty text.`);
  }
  if (!hasMagic) {
    throw new DatasetError(
      `Shard ${path} has magic ${view.getInt32(0, true)}, not llm.c's ${SHARD_MAGIC}: it is not ` +
        `an llm.c token shard. If it is a headerless nanoGPT uint16 .bin, pass format "nanogpt" ` +
        `(or "auto"); otherwise re-create it with \`tempo prepare\`.`,
    );
  }
  if (size < SHARD_HEADER_BYTES) {
    throw new DatasetError(
      `Shard ${path} is truncated: it is ${size} bytes, smaller than the ${SHARD_HEADER_BYTES}-byte ` +
        `llm.c header. It was probably cut off while being written or copied; re-create it.`,
    );
  }
  const version = view.getInt32(4, true);
  if (version !== 1 && version !== 2) {
    throw new DatasetError(
      `Shard ${path} has unsupported version ${version}; supported: 1 (uint16 tokens) and ` +
        `2 (uint32 tokens). Re-create it with \`tempo prepare\`.`,
    );
  }
  const tokens = view.getInt32(8, true);
  const bytesPerToken = version === 1 ? 2 : 4;
  if (tokens < 0) {
    throw new DatasetError(`Shard ${path} is corrupt: its header token count is ${tokens}.`);
  }
  if (tokens === 0) {
    throw new DatasetError(
      `Shard ${path} is empty (0 tokens). Re-create it from non-empty text.`,
    );
  }
  const expected = SHARD_HEADER_BYTES + tokens * bytesPerToken;
  if (size < expected) {
    throw new DatasetError(
      `Shard ${path} is truncated: its header says ${tokens} tokens (${expected} bytes) but the ` +
        `file has ${size} bytes, room for ${
          Math.floor((size - SHARD_HEADER_BYTES) / bytesPerToken)
        } tokens. It was probably cut off while being written or copied; re-create or re-copy it.`,
    );
  }
  if (size > expected) {
    throw new DatasetError(
      `Shard ${path} has ${size - expected} bytes after its ${tokens} tokens (header count and ` +
        `file size disagree). The file is corrupt; re-create it with \`tempo prepare\`.`,
    );
  }
  return { path, format: "llmc", version, bytesPerToken, dataOffset: SHARD_HEADER_BYTES, tokens };
}

function nanoGptInfo(path: string, size: number): ShardInfo {
  if (size === 0) {
    throw new DatasetError(`Shard ${path} is empty (0 bytes). Re-create it from non-empty text.`);
  }
  if (size % 2 !== 0) {
    throw new DatasetError(
      `nanoGPT shard ${path} has an odd size (${size} bytes), so its last uint16 token is cut ` +
        `off: the file is truncated. Re-create or re-copy it.`,
    );
  }
  return { path, format: "nanogpt", version: 1, bytesPerToken: 2, dataOffset: 0, tokens: size / 2 };
}

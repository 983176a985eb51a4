/**
 * The token shard layouts tempo reads, how `--format auto` tells them apart, and header
 * validation.
 *
 * Layouts (all little-endian; typed arrays use the host byte order, and every platform Deno ships
 * for is little-endian):
 *
 * | layout        | header: 256 int32 (magic, version, token count, zeros) | tokens |
 * | ------------- | ------------------------------------------------------ | ------ |
 * | `llmc-u16`    | 20240520, 1 (llm.c's GPT-2 shards; tempo writes these) | uint16 |
 * | `tempo-u32`   | 20240520, 2 (tempo's writer, vocabularies over 65,536) | uint32 |
 * | `llmc-u32`    | 20240801, 7 (llm.c's Llama 3 shards)                   | uint32 |
 * | `nanogpt-u16` | none (nanoGPT's `train.bin` / `val.bin`)               | uint16 |
 *
 * `format` says which to accept: "llmc" (a header with a known magic and version), "nanogpt"
 * (headerless uint16, no questions asked) or "auto". A headerless file has no signature, so
 * "auto" reads one as nanoGPT only when it cannot be a damaged llm.c shard. The rule, in order:
 *
 * 1. int32[0] is a known magic: the file is an llm.c shard, validated strictly (a truncated or
 *    inconsistent one is refused, never reread as nanoGPT).
 * 2. int32[0] is within NEAR_MAGIC_BITS bits of a known magic: refused (a corrupt magic).
 * 3. The first 1024 bytes look like an llm.c header under another magic: refused. That is, at
 *    least two of: int32[1] is a small version (1..255); int32[2] equals the token count the file
 *    size implies for 2- or 4-byte tokens; at least 90% of int32[3..255] are zero (64 or more of
 *    them present). Or the first bytes (at least 256, up to 1024) are all zero.
 * 4. Read as headerless uint16, it is refused when the size is odd; when its first 1024 bytes
 *    (at least 64) are plain UTF-8 text; when every second uint16 of the first PROBE_TOKENS
 *    (at least 32) is below 4 but not all the others are (the pattern of headerless uint32
 *    tokens); or, given a vocabulary size, when any of the first PROBE_TOKENS ids is outside it.
 * 5. Otherwise: nanoGPT uint16.
 *
 * Each refusal is one line naming what was found and asking for `--format llmc` (after fixing
 * the file) or `--format nanogpt` (if it really is headerless uint16). Whatever the layout, a
 * given vocabulary size is checked against the first PROBE_TOKENS ids when the shard is opened
 * (and against every id as it is read).
 *
 * @module
 */

import { checkIds } from "./check_ids.ts";
import { DatasetError, fileError } from "./errors.ts";

/** The magic tempo's writer puts in header int 0 (llm.c's GPT-2-era magic). */
export const SHARD_MAGIC = 20240520;
/** The magic of llm.c's Llama 3 shards (version 7, uint32 tokens). */
export const LLAMA3_SHARD_MAGIC = 20240801;
/** llm.c header size in bytes (256 int32). */
export const SHARD_HEADER_BYTES = 1024;
/** Largest token count one shard can hold (the header count is an int32). */
export const MAX_SHARD_TOKENS = 0x7fffffff;
/** Ids checked when a shard is opened (and probed by `--format auto`). */
export const PROBE_TOKENS = 4096;
/** A magic at most this many bits away from a known one is taken as a corrupt known magic. */
export const NEAR_MAGIC_BITS = 4;

/** What `format` accepts: llm.c-style headers, headerless nanoGPT uint16, or decide (see above). */
export type ShardFormat = "llmc" | "nanogpt" | "auto";

/** The formats `format` accepts, for flag parsers and messages. */
export const SHARD_FORMATS: readonly ShardFormat[] = ["auto", "llmc", "nanogpt"];

/** An on-disk layout (see the module doc's table). */
export type ShardLayout = "llmc-u16" | "tempo-u32" | "llmc-u32" | "nanogpt-u16";

/** The facts of one layout. */
export interface ShardLayoutSpec {
  /** Header int 0, or null for a headerless layout. */
  magic: number | null;
  /** Header int 1, or null for a headerless layout. */
  version: number | null;
  /** 2 (uint16) or 4 (uint32). */
  bytesPerToken: 2 | 4;
  /** How the layout is named in messages and the run header. */
  label: string;
}

function withHeader(
  family: string,
  magic: number,
  version: number,
  bytesPerToken: 2 | 4,
): ShardLayoutSpec {
  return {
    magic,
    version,
    bytesPerToken,
    label: `${family} uint${8 * bytesPerToken} (${magic} v${version})`,
  };
}

/** Every layout tempo reads. */
export const SHARD_LAYOUTS: Readonly<Record<ShardLayout, ShardLayoutSpec>> = {
  "llmc-u16": withHeader("llm.c", SHARD_MAGIC, 1, 2),
  "tempo-u32": withHeader("tempo", SHARD_MAGIC, 2, 4),
  "llmc-u32": withHeader("llm.c", LLAMA3_SHARD_MAGIC, 7, 4),
  "nanogpt-u16": {
    magic: null,
    version: null,
    bytesPerToken: 2,
    label: "nanoGPT uint16 (headerless)",
  },
};

const HEADERED = (Object.keys(SHARD_LAYOUTS) as ShardLayout[]).filter((l) =>
  SHARD_LAYOUTS[l].magic !== null
);
const KNOWN_MAGICS = [...new Set(HEADERED.map((l) => SHARD_LAYOUTS[l].magic!))];
const MAGICS_TEXT = KNOWN_MAGICS.join(" or ");
const VERSIONS_TEXT = HEADERED.map((l) => {
  const s = SHARD_LAYOUTS[l];
  return `${s.magic} v${s.version}`;
}).join(", ");
const FIX_OR_NANOGPT = "Fix or re-create the file (then --format llmc), or pass --format nanogpt " +
  "if it really is headerless uint16 tokens.";

/** What `inspectShard` learned from a shard's header and size. */
export interface ShardInfo {
  /** The file. */
  path: string;
  /** Detected layout (SHARD_LAYOUTS has its facts and label). */
  layout: ShardLayout;
  /** 2 or 4. */
  bytesPerToken: 2 | 4;
  /** Byte offset of token 0 (1024 with a header, 0 for nanoGPT). */
  dataOffset: number;
  /** Number of tokens. */
  tokens: number;
}

/** How to open a shard. */
export interface ShardOptions {
  /** Layout to accept; default "llmc". "auto" decides as the module doc says. */
  format?: ShardFormat;
  /** When given, ids must be < vocabSize (the first PROBE_TOKENS are checked on open). */
  vocabSize?: number;
}

/** The layout's name for messages, e.g. "llm.c uint32 (20240801 v7)". */
export function layoutLabel(layout: ShardLayout): string {
  return SHARD_LAYOUTS[layout].label;
}

/** The llm.c version a shard for this vocabulary size gets: 1 (uint16) if V <= 65536, else 2. */
export function shardVersionFor(vocabSize: number): 1 | 2 {
  if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > 0x100000000) {
    throw new DatasetError(`Vocabulary size must be an integer in [1, 2^32], got ${vocabSize}.`);
  }
  return vocabSize <= 65536 ? 1 : 2;
}

/** The 1024-byte header tempo's writer puts before `tokens` tokens of the given version. */
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
    throw fileError(path, e, "Check the path and its permissions.");
  }
}

function readPrefix(path: string, n: number): Uint8Array {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    throw fileError(path, e, "Check that the shard is readable.");
  }
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

/** Little-endian int32 words of a byte prefix (a trailing partial word is left out). */
function wordsOf(prefix: Uint8Array): number[] {
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const n = Math.floor(prefix.length / 4);
  return Array.from({ length: n }, (_, i) => view.getInt32(4 * i, true));
}

function bitsApart(a: number, b: number): number {
  let x = (a ^ b) >>> 0, n = 0;
  for (; x !== 0; x &= x - 1) n++;
  return n;
}

/** The known magic nearest to `magic` if it is within NEAR_MAGIC_BITS bits (and not equal). */
function nearMagic(magic: number): { magic: number; bits: number } | null {
  let best: { magic: number; bits: number } | null = null;
  for (const known of KNOWN_MAGICS) {
    const bits = bitsApart(magic, known);
    if (bits > 0 && bits <= NEAR_MAGIC_BITS && (best === null || bits < best.bits)) {
      best = { magic: known, bits };
    }
  }
  return best;
}

/** Why the first words look like an llm.c header (step 3 of the rule), or null if they do not. */
function headerEvidence(words: number[], size: number): string | null {
  const found: string[] = [];
  const version = words[1], count = words[2];
  if (version !== undefined && version >= 1 && version <= 255) found.push(`version ${version}`);
  if (count !== undefined && count >= 1) {
    const data = size - SHARD_HEADER_BYTES;
    const width = data === 2 * count ? "uint16" : data === 4 * count ? "uint32" : null;
    if (width) {
      found.push(`token count ${count.toLocaleString("en-US")} matching its size for ${width}`);
    }
  }
  const reserved = words.slice(3, SHARD_HEADER_BYTES / 4);
  const zeros = reserved.filter((w) => w === 0).length;
  if (reserved.length >= 64 && zeros >= 0.9 * reserved.length) {
    found.push(`${zeros} of ${reserved.length} reserved words zero`);
  }
  return found.length >= 2 ? `an llm.c-like header (${found.join("; ")})` : null;
}

/** Valid UTF-8 (a character cut off at the end is fine) without controls but tab, LF and CR. */
function looksLikeText(bytes: Uint8Array): boolean {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes, { stream: true });
  // deno-lint-ignore no-control-regex
  return !/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]/.test(text);
}

/**
 * Reads and validates a shard's header and size (and, with a vocabulary size, its first
 * PROBE_TOKENS ids) without reading the rest. Throws a DatasetError for a missing file, a wrong
 * or unknown magic or version, a truncated or oversized file, an empty shard, out-of-vocabulary
 * ids, or (with "auto") a headerless file that may be a damaged llm.c shard.
 */
export function inspectShard(path: string, options: ShardOptions = {}): ShardInfo {
  const format = options.format ?? "llmc";
  if (!SHARD_FORMATS.includes(format)) {
    throw new DatasetError(
      `Unknown shard format "${format}". Use ${SHARD_FORMATS.map((f) => `"${f}"`).join(", ")}.`,
    );
  }
  const stat = statFile(path);
  if (!stat.isFile) throw new DatasetError(`Shard ${path} is not a file. Pass a .bin shard file.`);
  const size = stat.size;
  if (size === 0) {
    throw new DatasetError(`Shard ${path} is empty (0 bytes). Re-create it from non-empty text.`);
  }
  const prefix = readPrefix(path, Math.min(size, SHARD_HEADER_BYTES + 4 * PROBE_TOKENS));
  const words = wordsOf(prefix.subarray(0, SHARD_HEADER_BYTES));
  const magic = words[0];
  let info: ShardInfo;
  if (format === "nanogpt") {
    info = headerless(path, size);
  } else if (magic !== undefined && KNOWN_MAGICS.includes(magic)) {
    info = parseHeadered(path, size, words);
  } else if (format === "llmc") {
    const near = magic === undefined ? null : nearMagic(magic);
    throw new DatasetError(
      `Shard ${path} has magic ${magic ?? "(none: under 4 bytes)"}, not llm.c's ${MAGICS_TEXT}` +
        (near ? ` (${near.bits} bit(s) from ${near.magic}: a corrupt header?)` : "") +
        `: it is not an llm.c token shard. If it is a headerless nanoGPT uint16 .bin, pass ` +
        `--format nanogpt (or auto); otherwise re-create it with \`tempo prepare\`.`,
    );
  } else {
    info = detectHeaderless(path, size, prefix, words, options.vocabSize);
  }
  if (options.vocabSize !== undefined) {
    const n = Math.min(info.tokens, PROBE_TOKENS);
    const bytes = prefix.slice(info.dataOffset, info.dataOffset + n * info.bytesPerToken);
    const ids = info.bytesPerToken === 2
      ? new Uint16Array(bytes.buffer)
      : new Uint32Array(bytes.buffer);
    checkIds(ids, options.vocabSize, `shard ${path} (${layoutLabel(info.layout)})`);
  }
  return info;
}

/** Step 1: a known magic; everything else in the header must then be right. */
function parseHeadered(path: string, size: number, words: number[]): ShardInfo {
  const [magic, version, tokens] = words;
  if (size < SHARD_HEADER_BYTES) {
    throw new DatasetError(
      `Shard ${path} is truncated: it is ${size} bytes, smaller than the ${SHARD_HEADER_BYTES}-byte ` +
        `llm.c header. It was probably cut off while being written or copied; re-create it.`,
    );
  }
  const layout = HEADERED.find((l) =>
    SHARD_LAYOUTS[l].magic === magic && SHARD_LAYOUTS[l].version === version
  );
  if (layout === undefined) {
    throw new DatasetError(
      `Shard ${path} has magic ${magic} with unsupported version ${version}; supported: ` +
        `${VERSIONS_TEXT}. Re-create it with \`tempo prepare\` or llm.c's data scripts.`,
    );
  }
  const { bytesPerToken, label } = SHARD_LAYOUTS[layout];
  if (tokens < 0) {
    throw new DatasetError(
      `Shard ${path} (${label}) is corrupt: its header token count is ${tokens}.`,
    );
  }
  if (tokens === 0) {
    throw new DatasetError(
      `Shard ${path} (${label}) is empty (0 tokens). Re-create it from non-empty text.`,
    );
  }
  const expected = SHARD_HEADER_BYTES + tokens * bytesPerToken;
  if (size < expected) {
    throw new DatasetError(
      `Shard ${path} (${label}) is truncated: its header says ${tokens} tokens (${expected} bytes) ` +
        `but the file has ${size} bytes, room for ${
          Math.floor((size - SHARD_HEADER_BYTES) / bytesPerToken)
        } tokens. It was probably cut off while being written or copied; re-create or re-copy it.`,
    );
  }
  if (size > expected) {
    throw new DatasetError(
      `Shard ${path} (${label}) has ${size - expected} bytes after its ${tokens} tokens (header ` +
        `count and file size disagree). The file is corrupt; re-create it.`,
    );
  }
  return { path, layout, bytesPerToken, dataOffset: SHARD_HEADER_BYTES, tokens };
}

function headerless(path: string, size: number): ShardInfo {
  if (size % 2 !== 0) {
    throw new DatasetError(
      `nanoGPT shard ${path} has an odd size (${size} bytes), so its last uint16 token is cut ` +
        `off: the file is truncated. Re-create or re-copy it.`,
    );
  }
  return { path, layout: "nanogpt-u16", bytesPerToken: 2, dataOffset: 0, tokens: size / 2 };
}

/** Steps 2-5 of the rule: no known magic, so headerless nanoGPT only if nothing speaks against. */
function detectHeaderless(
  path: string,
  size: number,
  prefix: Uint8Array,
  words: number[],
  vocabSize: number | undefined,
): ShardInfo {
  const auto = "--format auto will not guess";
  const near = words[0] === undefined ? null : nearMagic(words[0]);
  if (near) {
    throw new DatasetError(
      `Shard ${path} starts with ${words[0]}, ${near.bits} bit(s) from llm.c's magic ` +
        `${near.magic}: it looks like an llm.c shard with a corrupt magic, and ${auto}. ` +
        FIX_OR_NANOGPT,
    );
  }
  const head = prefix.subarray(0, Math.min(prefix.length, SHARD_HEADER_BYTES));
  if (head.length >= 256 && head.every((b) => b === 0)) {
    throw new DatasetError(
      `Shard ${path} starts with ${head.length} zero bytes where an llm.c header would be (a ` +
        `wiped header?), and ${auto}. ${FIX_OR_NANOGPT}`,
    );
  }
  const evidence = headerEvidence(words, size);
  if (evidence) {
    throw new DatasetError(
      `Shard ${path} has ${evidence} but magic ${words[0]}, not llm.c's ${MAGICS_TEXT}, and ` +
        `${auto}. ${FIX_OR_NANOGPT}`,
    );
  }
  const info = headerless(path, size);
  if (head.length >= 64 && looksLikeText(head)) {
    throw new DatasetError(
      `Shard ${path} has no llm.c header and its first ${head.length} bytes are plain text, ` +
        `not token ids; ${auto}. Tokenize text with \`tempo prepare <files> --out <dir>\` and ` +
        `pass that folder, or pass --format nanogpt if it really is uint16 tokens.`,
    );
  }
  const n = Math.min(info.tokens, PROBE_TOKENS);
  const u16 = new Uint16Array(prefix.slice(0, 2 * n).buffer);
  if (n >= 32) {
    let highSmall = true, lowLarge = false;
    for (let i = 0; i + 1 < n; i += 2) {
      highSmall &&= u16[i + 1] < 4;
      lowLarge ||= u16[i] >= 4;
    }
    if (highSmall && lowLarge) {
      throw new DatasetError(
        `Shard ${path} has no llm.c header, and every second uint16 of its first ${n} is below ` +
          `4, the pattern of uint32 tokens without a header; ${auto}. Give it an llm.c header ` +
          `(${LLAMA3_SHARD_MAGIC} v${SHARD_LAYOUTS["llmc-u32"].version} for uint32) and pass ` +
          `--format llmc, or --format nanogpt if it really is uint16 tokens.`,
      );
    }
  }
  const bad = vocabSize === undefined ? -1 : u16.findIndex((id) => id >= vocabSize);
  if (bad >= 0) {
    throw new DatasetError(
      `Shard ${path} has no llm.c header, and read as nanoGPT uint16 its token ${bad} is ` +
        `${u16[bad]}, outside the vocabulary (0..${vocabSize! - 1}), so it is not nanoGPT data ` +
        `for this model; ${auto}. Re-create it with \`tempo prepare\`, or use the model whose ` +
        `tokenizer made it.`,
    );
  }
  return info;
}

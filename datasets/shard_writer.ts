/**
 * Streaming, atomic llm.c shard writer: tokens are appended to a temp file beside the target and
 * the header is written and the file renamed into place only on `close()`, so a crash never
 * leaves a half-written shard under the real name. Memory use is one fixed buffer.
 *
 * @module
 */

import { dirname } from "node:path";
import { checkIds } from "./check_ids.ts";
import { DatasetError, fileError } from "./errors.ts";
import {
  encodeShardHeader,
  MAX_SHARD_TOKENS,
  SHARD_HEADER_BYTES,
  shardVersionFor,
} from "./shard_format.ts";

const BUFFER_TOKENS = 1 << 18;
const WRITE_HINT = "Check that its folder is writable and has free space; no shard was published.";

/** Runs a file-system operation on the shard at `path`; its failure becomes one clear line. */
function io<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fileError(path, e, WRITE_HINT);
  }
}

function removeIfThere(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
}

function readExactly(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    const r = file.readSync(bytes.subarray(done));
    if (r === null) throw new Error("temp shard ended early (was it modified by another process?)");
    done += r;
  }
}

/** Appends tokens to a new llm.c shard; `close()` publishes it, `abort()` discards it. */
export class ShardWriter {
  /** The final shard path (published on close). */
  readonly path: string;
  /** llm.c version: 1 (uint16) or 2 (uint32). */
  readonly version: 1 | 2;
  readonly #vocabSize: number;
  readonly #tmp: string;
  readonly #file: Deno.FsFile;
  readonly #buffer: Uint16Array | Uint32Array;
  #buffered = 0;
  #flushed = 0;
  #open = true;

  private constructor(path: string, vocabSize: number) {
    this.path = path;
    this.version = shardVersionFor(vocabSize);
    this.#vocabSize = vocabSize;
    this.#buffer = this.version === 1
      ? new Uint16Array(BUFFER_TOKENS)
      : new Uint32Array(BUFFER_TOKENS);
    io(path, () => Deno.mkdirSync(dirname(path), { recursive: true }));
    const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    this.#tmp = tmp;
    const file = io(path, () => Deno.openSync(tmp, { read: true, write: true, createNew: true }));
    this.#file = file;
    try {
      io(path, () => writeAll(file, encodeShardHeader(this.version, 0))); // Placeholder.
    } catch (e) {
      file.close();
      removeIfThere(tmp);
      throw e;
    }
  }

  /** Starts a shard for ids in [0, vocabSize); creates parent folders as needed. */
  static create(path: string, options: { vocabSize: number }): ShardWriter {
    return new ShardWriter(path, options.vocabSize);
  }

  /** Tokens written so far. */
  get count(): number {
    return this.#flushed + this.#buffered;
  }

  get #bytesPerToken(): number {
    return this.version === 1 ? 2 : 4;
  }

  /** Appends ids; each must be in [0, vocabSize). */
  write(ids: ArrayLike<number>): void {
    this.#checkOpen();
    checkIds(ids, this.#vocabSize, `writing shard ${this.path}`, this.count);
    if (this.count + ids.length > MAX_SHARD_TOKENS) {
      throw new DatasetError(
        `Shard ${this.path} would exceed ${MAX_SHARD_TOKENS} tokens, the most an llm.c header ` +
          `can count. Split the corpus and prepare it in parts.`,
      );
    }
    for (let i = 0; i < ids.length; i++) {
      this.#buffer[this.#buffered++] = ids[i];
      if (this.#buffered === BUFFER_TOKENS) this.#flush();
    }
  }

  /** Moves the last `n` tokens of this shard to the end of `other` (same vocabulary). */
  moveTailTo(n: number, other: ShardWriter): void {
    this.#checkOpen();
    if (!Number.isInteger(n) || n < 0 || n > this.count) {
      throw new RangeError(`moveTailTo: n must be in [0, ${this.count}], got ${n}`);
    }
    this.#flush();
    const bpt = this.#bytesPerToken;
    const keep = this.count - n;
    const chunk = new Uint8Array(BUFFER_TOKENS * bpt);
    for (let start = keep; start < this.#flushed; start += BUFFER_TOKENS) {
      const len = Math.min(BUFFER_TOKENS, this.#flushed - start);
      const bytes = chunk.subarray(0, len * bpt);
      io(this.path, () => {
        this.#file.seekSync(SHARD_HEADER_BYTES + start * bpt, Deno.SeekMode.Start);
        readExactly(this.#file, bytes);
      });
      other.write(
        bpt === 2 ? new Uint16Array(bytes.buffer, 0, len) : new Uint32Array(bytes.buffer, 0, len),
      );
    }
    io(this.path, () => {
      this.#file.truncateSync(SHARD_HEADER_BYTES + keep * bpt);
      this.#file.seekSync(0, Deno.SeekMode.End);
    });
    this.#flushed = keep;
  }

  /**
   * Writes the header, syncs and renames the temp file onto `path`; returns the token count.
   * An empty shard is an error (and is discarded): there is nothing to train on.
   */
  close(): number {
    this.#checkOpen();
    this.#flush();
    if (this.count === 0) {
      this.abort();
      throw new DatasetError(
        `Refusing to write empty shard ${this.path}: no tokens. Give it non-empty text.`,
      );
    }
    io(this.path, () => {
      this.#file.seekSync(0, Deno.SeekMode.Start);
      writeAll(this.#file, encodeShardHeader(this.version, this.count));
      this.#file.syncSync();
    }); // On failure the writer stays open, for the caller's abort().
    this.#file.close();
    this.#open = false;
    try {
      io(this.path, () => Deno.renameSync(this.#tmp, this.path));
    } catch (e) {
      removeIfThere(this.#tmp);
      throw e;
    }
    return this.count;
  }

  /** Discards the temp file; the target path is left untouched. Safe to call twice. */
  abort(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#file.close();
    removeIfThere(this.#tmp);
  }

  #flush(): void {
    if (this.#buffered === 0) return;
    const bytes = new Uint8Array(
      this.#buffer.buffer,
      0,
      this.#buffered * this.#bytesPerToken,
    );
    io(this.path, () => writeAll(this.#file, bytes));
    this.#flushed += this.#buffered;
    this.#buffered = 0;
  }

  #checkOpen(): void {
    if (!this.#open) throw new Error(`ShardWriter for ${this.path} is already closed`);
  }
}

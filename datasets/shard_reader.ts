/**
 * Streaming shard reader: reads token ranges through a file handle (seek + read), so a corpus
 * larger than memory can be trained on. Only the header is read on open.
 *
 * @module
 */

import { checkIds } from "./check_ids.ts";
import { DatasetError, fileError } from "./errors.ts";
import { inspectShard, type ShardInfo, type ShardOptions } from "./shard_format.ts";
import { checkRange, ConcatTokenStream, type TokenStream } from "./token_stream.ts";

/**
 * Options for opening shards: the layout to accept (default "llmc"; "auto" decides as
 * shard_format.ts says) and, when given, the vocabulary size every id read must be below.
 */
export type OpenShardOptions = ShardOptions;

/** One shard file as a TokenStream. */
export class ShardReader implements TokenStream {
  /** Header facts (format, version, token count). */
  readonly info: ShardInfo;
  readonly #file: Deno.FsFile;
  readonly #vocabSize: number | undefined;
  #bytes = new Uint8Array(0);
  #open = true;

  private constructor(info: ShardInfo, vocabSize: number | undefined) {
    this.info = info;
    this.#vocabSize = vocabSize;
    try {
      this.#file = Deno.openSync(info.path, { read: true });
    } catch (e) {
      throw fileError(info.path, e, "Check that the shard is readable.");
    }
  }

  /** Validates the header (see inspectShard) and opens the file. */
  static open(path: string, options: OpenShardOptions = {}): ShardReader {
    return new ShardReader(inspectShard(path, options), options.vocabSize);
  }

  /** N, the number of tokens. */
  get length(): number {
    return this.info.tokens;
  }

  /** Reads tokens [start, start + out.length) from disk into out. */
  read(start: number, out: Int32Array): void {
    checkRange(start, out.length, this.length);
    const bpt = this.info.bytesPerToken;
    const nbytes = out.length * bpt;
    if (this.#bytes.length < nbytes) this.#bytes = new Uint8Array(nbytes);
    const bytes = this.#bytes.subarray(0, nbytes);
    this.#file.seekSync(this.info.dataOffset + start * bpt, Deno.SeekMode.Start);
    let done = 0;
    while (done < nbytes) {
      const r = this.#file.readSync(bytes.subarray(done));
      if (r === null) {
        throw new DatasetError(
          `Shard ${this.info.path} ended early while reading tokens ${start}..` +
            `${start + out.length}: the file shrank after it was opened. Re-create it.`,
        );
      }
      done += r;
    }
    out.set(
      bpt === 2
        ? new Uint16Array(bytes.buffer, 0, out.length)
        : new Uint32Array(bytes.buffer, 0, out.length),
    );
    if (this.#vocabSize !== undefined) {
      checkIds(out, this.#vocabSize, `shard ${this.info.path}`, start);
    }
  }

  /** Closes the file handle. Safe to call twice. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#file.close();
  }
}

/** Shards read end to end as one stream, with what was learned about each file. */
export class ShardStream implements TokenStream {
  /** Each shard's layout and token count, in stream order. */
  readonly shards: readonly ShardInfo[];
  readonly #stream: TokenStream;

  /**
   * Joins open readers; this stream closes them on close().
   *
   * @param readers At least one reader, in order.
   */
  constructor(readers: ShardReader[]) {
    this.shards = readers.map((r) => r.info);
    this.#stream = readers.length === 1 ? readers[0] : new ConcatTokenStream(readers);
  }

  /** N, the total number of tokens. */
  get length(): number {
    return this.#stream.length;
  }

  /** Reads tokens [start, start + out.length), across shard boundaries as needed. */
  read(start: number, out: Int32Array): void {
    this.#stream.read(start, out);
  }

  /** Closes every shard file. Safe to call twice. */
  close(): void {
    this.#stream.close();
  }
}

/**
 * Opens one or more shards as a single stream (in the given order). If any fails to open, those
 * already opened are closed before the error propagates.
 */
export function openShards(
  paths: string | readonly string[],
  options: OpenShardOptions = {},
): ShardStream {
  const list = typeof paths === "string" ? [paths] : paths;
  if (list.length === 0) {
    throw new DatasetError("No shard paths given. Pass at least one .bin shard.");
  }
  const readers: ShardReader[] = [];
  try {
    for (const p of list) readers.push(ShardReader.open(p, options));
  } catch (e) {
    for (const r of readers) r.close();
    throw e;
  }
  return new ShardStream(readers);
}

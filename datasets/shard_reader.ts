/**
 * Streaming shard reader: reads token ranges through a file handle (seek + read), so a corpus
 * larger than memory can be trained on. Only the header is read on open.
 *
 * @module
 */

import { checkIds } from "./check_ids.ts";
import { DatasetError } from "./errors.ts";
import { inspectShard, type ShardFormat, type ShardInfo } from "./shard_format.ts";
import { checkRange, ConcatTokenStream, type TokenStream } from "./token_stream.ts";

/** Options for opening shards. */
export interface OpenShardOptions {
  /** Layout; default "llmc". "auto" takes llm.c if the magic matches, else nanoGPT. */
  format?: ShardFormat;
  /** When given, each read checks its ids are < vocabSize and names the first bad one. */
  vocabSize?: number;
}

/** One shard file as a TokenStream. */
export class ShardReader implements TokenStream {
  /** Header facts (format, version, token count). */
  readonly info: ShardInfo;
  readonly #file: Deno.FsFile;
  readonly #vocabSize: number | undefined;
  #bytes = new Uint8Array(0);

  private constructor(info: ShardInfo, vocabSize: number | undefined) {
    this.info = info;
    this.#vocabSize = vocabSize;
    this.#file = Deno.openSync(info.path, { read: true });
  }

  /** Validates the header (see inspectShard) and opens the file. */
  static open(path: string, options: OpenShardOptions = {}): ShardReader {
    return new ShardReader(inspectShard(path, options.format ?? "llmc"), options.vocabSize);
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

  /** Closes the file handle. */
  close(): void {
    this.#file.close();
  }
}

/** Opens one or more shards as a single stream (in the given order). */
export function openShards(paths: string | string[], options: OpenShardOptions = {}): TokenStream {
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
  return readers.length === 1 ? readers[0] : new ConcatTokenStream(readers);
}

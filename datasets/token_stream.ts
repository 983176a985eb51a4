/**
 * A random-access token sequence, the input of the batch loaders: a shard on disk
 * (ShardReader), several shards end to end (ConcatTokenStream), or an array in memory
 * (ArrayTokenStream).
 *
 * @module
 */

import { checkIds } from "./check_ids.ts";

/** N tokens readable by range. */
export interface TokenStream {
  /** N, the number of tokens. */
  readonly length: number;
  /** Fills `out` with tokens [start, start + out.length). Throws RangeError past the end. */
  read(start: number, out: Int32Array): void;
  /** Releases file handles (no-op for memory). */
  close(): void;
}

/** Throws a RangeError unless [start, start + count) lies in [0, length). */
export function checkRange(start: number, count: number, length: number): void {
  if (!Number.isInteger(start) || start < 0 || start + count > length) {
    throw new RangeError(
      `token range [${start}, ${start + count}) is outside the stream of ${length} tokens`,
    );
  }
}

/** Tokens held in memory. */
export class ArrayTokenStream implements TokenStream {
  readonly #tokens: Int32Array;

  /**
   * Copies the tokens.
   *
   * @param tokens The ids; when vocabSize is given each must be in [0, vocabSize).
   */
  constructor(tokens: ArrayLike<number>, vocabSize?: number) {
    if (vocabSize !== undefined) checkIds(tokens, vocabSize, "token array");
    this.#tokens = Int32Array.from(tokens);
  }

  /** N. */
  get length(): number {
    return this.#tokens.length;
  }

  /** Copies [start, start + out.length) into out. */
  read(start: number, out: Int32Array): void {
    checkRange(start, out.length, this.length);
    out.set(this.#tokens.subarray(start, start + out.length));
  }

  /** No-op. */
  close(): void {}
}

/** Several streams end to end, as one stream (reads may span a boundary). */
export class ConcatTokenStream implements TokenStream {
  readonly #parts: TokenStream[];
  readonly #starts: number[] = [];
  /** N, the total length. */
  readonly length: number;

  /**
   * Joins streams.
   *
   * @param parts Streams in order; this stream closes them on close().
   */
  constructor(parts: TokenStream[]) {
    this.#parts = parts;
    let n = 0;
    for (const p of parts) {
      this.#starts.push(n);
      n += p.length;
    }
    this.length = n;
  }

  /** Reads across part boundaries as needed. */
  read(start: number, out: Int32Array): void {
    checkRange(start, out.length, this.length);
    let done = 0;
    // Binary search for the part holding `start`.
    let lo = 0;
    let hi = this.#parts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#starts[mid] <= start) lo = mid;
      else hi = mid - 1;
    }
    for (let p = lo; done < out.length; p++) {
      const local = start + done - this.#starts[p];
      const n = Math.min(out.length - done, this.#parts[p].length - local);
      if (n <= 0) continue;
      this.#parts[p].read(local, out.subarray(done, done + n));
      done += n;
    }
  }

  /** Closes every part. */
  close(): void {
    for (const p of this.#parts) p.close();
  }
}

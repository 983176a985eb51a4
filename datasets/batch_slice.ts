/**
 * A loader's walk through the global batches when it yields only some of their micro-batches
 * (`BatchSlice`, core/train/batch.ts): before its first micro-batch of a global batch it passes
 * over the rows of the micro-batches before it, and after its last, over the rest, so its stream
 * position between global batches is the same on every rank, and the same as a loader's that
 * yields every row.
 *
 * @module
 */

import type { BatchSlice } from "../core/train/batch.ts";
import { DatasetError } from "./errors.ts";
import { checkInt } from "./loader_checks.ts";

/** The whole of every batch: one part, taken. */
export const WHOLE_BATCH: BatchSlice = { parts: 1, first: 0, count: 1 };

/** Throws a DatasetError unless `s` is a slice of whole micro-batches within a global batch. */
export function checkSlice(s: BatchSlice): void {
  const hint = "A slice is { parts, first, count } with first + count <= parts.";
  checkInt("Slice parts", s.parts, 1, hint);
  checkInt("Slice first", s.first, 0, hint);
  checkInt("Slice count", s.count, 1, hint);
  if (s.first + s.count > s.parts) {
    throw new DatasetError(
      `A slice of micro-batches ${s.first}..${s.first + s.count - 1} does not fit in a global ` +
        `batch of ${s.parts}. ${hint}`,
    );
  }
}

/**
 * Where a loader stands in its global batches. `part` is the global micro-batch count of the
 * stream (micro-batches taken by every process together), the loader's checkpointed `step`.
 */
export class SliceWalk {
  /** Micro-batches of the global stream passed so far (taken here or by the other parts). */
  part = 0;
  #taken = 0;

  constructor(readonly slice: BatchSlice) {
    checkSlice(slice);
  }

  /** Micro-batches to pass over before the next one this loader yields. */
  skipBefore(): number {
    if (this.#taken > 0) return 0;
    this.part += this.slice.first;
    return this.slice.first;
  }

  /** The global batch and the micro-batch within it of the one about to be yielded. */
  get position(): { batch: number; index: number } {
    return {
      batch: Math.floor(this.part / this.slice.parts),
      index: this.part % this.slice.parts,
    };
  }

  /** After yielding one: micro-batches to pass over before the next global batch (or 0). */
  skipAfter(): number {
    this.part++;
    if (++this.#taken < this.slice.count) return 0;
    this.#taken = 0;
    const rest = this.slice.parts - this.slice.first - this.slice.count;
    this.part += rest;
    return rest;
  }

  /** True between global batches (where a checkpoint may record the position). */
  get atBoundary(): boolean {
    return this.#taken === 0;
  }

  /** Continue at a boundary, `part` micro-batches into the global stream. */
  seek(part: number): void {
    if (part % this.slice.parts !== 0) {
      throw new DatasetError(
        `Cannot resume the data loader: step ${part} is not a whole number of global batches ` +
          `of ${this.slice.parts} micro-batches. Resume with the checkpointed run's ranks and ` +
          "grad-accum.",
      );
    }
    this.part = part;
    this.#taken = 0;
  }
}

/**
 * The order in which a loader visits its items (windows or sequences): epoch after epoch, each a
 * seeded permutation of all items (or 0..n-1 in order when not shuffling). The position is two
 * integers, so a resumed run continues with exactly the same items.
 *
 * @module
 */

import { mixSeed, permutation, Rng } from "./rng.ts";

const SALT_ORDER = 0x0de7;

/** A position in the visiting order. */
export interface EpochPosition {
  /** Completed passes over all items. */
  epoch: number;
  /** Items already taken in the current epoch. */
  cursor: number;
}

/** Epoch-by-epoch item order (see the module doc). */
export class EpochOrder {
  /** Items per epoch. */
  readonly count: number;
  readonly #seed: number;
  readonly #shuffle: boolean;
  #epoch = 0;
  #cursor = 0;
  #perm: Int32Array | null = null;
  #permEpoch = -1;

  /**
   * Starts at epoch 0, cursor 0.
   *
   * @param count Items per epoch (>= 1).
   * @param seed Shuffle seed.
   * @param shuffle Permute each epoch (else visit 0..count-1 in order).
   */
  constructor(count: number, seed: number, shuffle: boolean) {
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`EpochOrder needs at least one item, got ${count}`);
    }
    this.count = count;
    this.#seed = seed;
    this.#shuffle = shuffle;
  }

  /** The current position. */
  get position(): EpochPosition {
    return { epoch: this.#epoch, cursor: this.#cursor };
  }

  /** The next item index, moving to the next epoch after the last item. */
  next(): number {
    if (this.#cursor === this.count) {
      this.#epoch++;
      this.#cursor = 0;
    }
    const i = this.#cursor++;
    if (!this.#shuffle) return i;
    if (this.#permEpoch !== this.#epoch) {
      this.#perm = permutation(this.count, new Rng(mixSeed(this.#seed, SALT_ORDER, this.#epoch)));
      this.#permEpoch = this.#epoch;
    }
    return this.#perm![i];
  }

  /** Passes over `k` items exactly as `k` calls of `next()` would, without visiting them. */
  skip(k: number): void {
    if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`cannot skip ${k} items`);
    while (k > 0) {
      if (this.#cursor === this.count) {
        this.#epoch++;
        this.#cursor = 0;
      }
      const take = Math.min(k, this.count - this.#cursor);
      this.#cursor += take;
      k -= take;
    }
  }

  /** Moves to a position previously read from `position`. */
  seek(pos: EpochPosition): void {
    const { epoch, cursor } = pos;
    if (
      !Number.isSafeInteger(epoch) || epoch < 0 || !Number.isSafeInteger(cursor) || cursor < 0 ||
      cursor > this.count
    ) {
      throw new RangeError(
        `invalid position epoch=${epoch} cursor=${cursor} for ${this.count} items per epoch`,
      );
    }
    this.#epoch = epoch;
    this.#cursor = cursor;
  }
}

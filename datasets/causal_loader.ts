/**
 * GPT-2 style causal-LM batches: the token stream is cut into non-overlapping windows of T + 1
 * tokens (window w starts at w * T); each row takes inputs = window[0..T) and
 * targets = window[1..T] (the next token). Windows are visited in a seeded shuffled order, epoch
 * after epoch (an epoch boundary may fall inside a batch). `state()`/`restore()` resume exactly.
 *
 * A batch's rows are the next B windows of the order, so batches of 2B are pairs of batches of B.
 * With a `slice` (data parallelism), the loader yields only its micro-batches of every global
 * batch and passes over the windows of the others (`SliceWalk`).
 *
 * @module
 */

import type { BatchSlice, BatchSource, TokenBatch } from "../core/train/batch.ts";
import { SliceWalk, WHOLE_BATCH } from "./batch_slice.ts";
import { checkIds } from "./check_ids.ts";
import { EpochOrder } from "./epoch_order.ts";
import { DatasetError } from "./errors.ts";
import { checkInt, checkStateMatches, stateInt } from "./loader_checks.ts";
import type { TokenStream } from "./token_stream.ts";

/** Settings of a CausalLoader. */
export interface CausalLoaderOptions {
  /** The token stream (N tokens). The loader does not close it. */
  tokens: TokenStream;
  /** Batch size B. */
  B: number;
  /** Sequence length T. */
  T: number;
  /** Shuffle seed; default 0. */
  seed?: number;
  /** Visit windows in a seeded random order (default true); false = in order (evaluation). */
  shuffle?: boolean;
  /** When given, every token read must be < vocabSize. */
  vocabSize?: number;
  /** The micro-batches of each global batch to yield (data parallelism); default all. */
  slice?: BatchSlice;
}

/** Causal-LM batches over a token stream (see the module doc). */
export class CausalLoader implements BatchSource {
  /** Batch size. */
  readonly B: number;
  /** Sequence length. */
  readonly T: number;
  /** Windows per epoch: floor((N - 1) / T). */
  readonly windows: number;
  readonly #tokens: TokenStream;
  readonly #seed: number;
  readonly #shuffle: boolean;
  readonly #vocabSize: number | undefined;
  readonly #order: EpochOrder;
  readonly #window: Int32Array;
  readonly #walk: SliceWalk;

  /** Throws a DatasetError for bad B/T/seed or a stream too short for one window. */
  constructor(options: CausalLoaderOptions) {
    const { tokens, B, T } = options;
    checkInt("Batch size B", B, 1, "Use a batch size of at least 1.");
    checkInt("Sequence length T", T, 1, "Use a sequence length of at least 1.");
    this.#seed = options.seed ?? 0;
    checkInt("Seed", this.#seed, 0, "Use a non-negative integer seed.");
    this.B = B;
    this.T = T;
    this.windows = Math.floor((tokens.length - 1) / T);
    if (this.windows < 1) {
      throw new DatasetError(
        `The token stream has ${tokens.length} tokens, but one training window needs T + 1 = ` +
          `${T + 1}. Use a shorter sequence length or more text.`,
      );
    }
    this.#tokens = tokens;
    this.#shuffle = options.shuffle ?? true;
    this.#vocabSize = options.vocabSize;
    this.#order = new EpochOrder(this.windows, this.#seed, this.#shuffle);
    this.#window = new Int32Array(T + 1);
    this.#walk = new SliceWalk(options.slice ?? WHOLE_BATCH);
  }

  /** Completed passes over all windows. */
  get epoch(): number {
    return this.#order.position.epoch;
  }

  /** Batches of B produced so far, counting those of the other parts of a slice. */
  get step(): number {
    return this.#walk.part;
  }

  /** Batches in one epoch, rounded up: ceil(windows / B). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.windows / this.B);
  }

  /** The next batch: inputIds [B*T] and targets [B*T]. */
  next(): TokenBatch {
    const { B, T } = this;
    const inputIds = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    const win = this.#window;
    this.#order.skip(this.#walk.skipBefore() * B);
    for (let b = 0; b < B; b++) {
      const w = this.#order.next();
      this.#tokens.read(w * T, win);
      if (this.#vocabSize !== undefined) checkIds(win, this.#vocabSize, "token stream", w * T);
      inputIds.set(win.subarray(0, T), b * T);
      targets.set(win.subarray(1), b * T);
    }
    this.#order.skip(this.#walk.skipAfter() * B);
    return { B, T, inputIds, targets };
  }

  /** JSON-serialisable position (and the settings it is only valid for). */
  state(): Record<string, unknown> {
    if (!this.#walk.atBoundary) throw new Error("CausalLoader.state() inside a global batch");
    return { ...this.#settings(), ...this.#order.position, step: this.#walk.part };
  }

  /** Continues from `state()`; throws a DatasetError if it came from a different setup. */
  restore(state: Record<string, unknown>): void {
    checkStateMatches(state, this.#settings());
    this.#order.seek({ epoch: stateInt(state, "epoch"), cursor: stateInt(state, "cursor") });
    this.#walk.seek(stateInt(state, "step"));
  }

  #settings(): Record<string, unknown> {
    return {
      kind: "causal",
      B: this.B,
      T: this.T,
      tokens: this.#tokens.length,
      seed: this.#seed,
      shuffle: this.#shuffle,
    };
  }
}

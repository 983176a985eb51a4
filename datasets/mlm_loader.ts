/**
 * BERT/RoBERTa masked-LM batches.
 *
 * The token stream (documents separated by [SEP] / </s>) is cut into consecutive chunks of
 * L = T - 2 tokens (RoBERTa's "full sentences" packing: a chunk may span documents); row =
 * [CLS] chunk [SEP] and then [PAD] (only the final, shorter chunk is padded). Chunks are visited
 * in a seeded shuffled order, epoch after epoch. Each row is masked as in mlm.ts, with
 * maskedPerSeq = ceil(maskProb * T) fixed, so M = B * maskedPerSeq.
 *
 * Masking: "static" (BERT) derives a row's randomness from (seed, chunk index), so a chunk gets
 * the same mask every epoch; "dynamic" (RoBERTa) derives it from (seed, global batch, row within
 * it), so masks change every time.
 *
 * A batch's rows are the next B chunks of the order. With a `slice` (data parallelism) the
 * loader yields only its micro-batches of every global batch (`SliceWalk`), and "dynamic"
 * randomness follows the row's place in the global batch: the micro-batches of a slice get the
 * rows, masks and NSP pairs one loader of the global batch size gives.
 *
 * Optional next-sentence prediction (BERT, off by default): chunks have L = T - 3 tokens; a chunk
 * is split at a random point into A and B; with probability 0.5 B is the true continuation
 * (label 0), otherwise B's tokens are replaced by the start of another random chunk (label 1).
 * Row = [CLS] A [SEP] B [SEP] [PAD]..., tokenTypeIds 0 up to the first [SEP], 1 after it.
 *
 * @module
 */

import {
  type BatchSlice,
  type BatchSource,
  MLM_MASK_RATE,
  type TokenBatch,
} from "../core/train/batch.ts";
import { SliceWalk, WHOLE_BATCH } from "./batch_slice.ts";
import { checkIds } from "./check_ids.ts";
import { EpochOrder } from "./epoch_order.ts";
import { DatasetError } from "./errors.ts";
import { checkInt, checkStateMatches, stateInt } from "./loader_checks.ts";
import { maskedPerSeqFor, Masker, type MlmSpecials, mlmSpecials } from "./mlm.ts";
import { mixSeed, Rng } from "./rng.ts";
import type { Tokenizer } from "./tokenizer.ts";
import type { TokenStream } from "./token_stream.ts";

const SALT_MASK = 0x3a5c;
const SALT_NSP = 0x45b9;

/** "static": a chunk's mask is fixed across epochs (BERT); "dynamic": new every step (RoBERTa). */
export type MaskingMode = "static" | "dynamic";

/** Settings of an MlmLoader. */
export interface MlmLoaderOptions {
  /** The token stream (N tokens). The loader does not close it. */
  tokens: TokenStream;
  /** Supplies [CLS]/[SEP]/[PAD]/[MASK] and V (bert, roberta or bytes). */
  tokenizer: Tokenizer;
  /** Batch size B. */
  B: number;
  /** Sequence length T, including [CLS] and [SEP]. */
  T: number;
  /** Seed for order, masks and NSP; default 0. */
  seed?: number;
  /** Default "dynamic". */
  masking?: MaskingMode;
  /** Fraction of candidate tokens to predict; default MLM_MASK_RATE (0.15). */
  maskProb?: number;
  /** Next-sentence prediction (adds nspLabels [B]); default false. */
  nsp?: boolean;
  /** Visit chunks in a seeded random order (default true); false = in order (evaluation). */
  shuffle?: boolean;
  /** The micro-batches of each global batch to yield (data parallelism); default all. */
  slice?: BatchSlice;
}

/** Masked-LM batches over a token stream (see the module doc). */
export class MlmLoader implements BatchSource {
  /** Batch size. */
  readonly B: number;
  /** Sequence length. */
  readonly T: number;
  /** Masked slots per sequence, ceil(maskProb * T); M = B * maskedPerSeq. */
  readonly maskedPerSeq: number;
  /** Chunks per epoch. */
  readonly sequences: number;
  readonly #tokens: TokenStream;
  readonly #sp: MlmSpecials;
  readonly #seed: number;
  readonly #masking: MaskingMode;
  readonly #maskProb: number;
  readonly #nsp: boolean;
  readonly #shuffle: boolean;
  readonly #L: number;
  readonly #order: EpochOrder;
  readonly #masker: Masker;
  readonly #walk: SliceWalk;
  /** Global batch and first row within it of the batch being made (dynamic randomness). */
  #at = { batch: 0, row: 0 };

  /** Throws a DatasetError for bad settings, a tokenizer without MLM ids or too little data. */
  constructor(options: MlmLoaderOptions) {
    const { tokens, B, T } = options;
    this.#sp = mlmSpecials(options.tokenizer);
    this.#nsp = options.nsp ?? false;
    checkInt("Batch size B", B, 1, "Use a batch size of at least 1.");
    checkInt(
      "Sequence length T",
      T,
      this.#nsp ? 5 : 3,
      `A masked-LM row holds [CLS] + tokens + [SEP]${this.#nsp ? " + [SEP] with NSP" : ""}.`,
    );
    this.#seed = options.seed ?? 0;
    checkInt("Seed", this.#seed, 0, "Use a non-negative integer seed.");
    this.#masking = options.masking ?? "dynamic";
    if (this.#masking !== "static" && this.#masking !== "dynamic") {
      throw new DatasetError(`Unknown masking "${this.#masking}". Use "static" or "dynamic".`);
    }
    this.#maskProb = options.maskProb ?? MLM_MASK_RATE;
    this.B = B;
    this.T = T;
    this.maskedPerSeq = maskedPerSeqFor(T, this.#maskProb);
    this.#masker = new Masker(this.#sp, this.#maskProb, this.maskedPerSeq);
    this.#tokens = tokens;
    this.#L = this.#nsp ? T - 3 : T - 2;
    this.sequences = Math.ceil(tokens.length / this.#L);
    if (this.sequences < (this.#nsp ? 2 : 1)) {
      throw new DatasetError(
        `The token stream has ${tokens.length} tokens; ` +
          (this.#nsp
            ? `next-sentence prediction needs at least 2 chunks of T - 3 = ${this.#L} tokens. `
            : "masked-LM needs at least one token. ") +
          "Use more text, a shorter sequence length, or turn NSP off.",
      );
    }
    this.#shuffle = options.shuffle ?? true;
    this.#order = new EpochOrder(this.sequences, this.#seed, this.#shuffle);
    this.#walk = new SliceWalk(options.slice ?? WHOLE_BATCH);
  }

  /** Completed passes over all chunks. */
  get epoch(): number {
    return this.#order.position.epoch;
  }

  /** Batches of B produced so far, counting those of the other parts of a slice. */
  get step(): number {
    return this.#walk.part;
  }

  /** Batches in one epoch, rounded up: ceil(sequences / B). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.sequences / this.B);
  }

  /**
   * The next batch: inputIds, attentionMask, tokenTypeIds [B*T]; maskedPositions,
   * maskedLabels [M]; nspLabels [B] when NSP is on.
   */
  next(): TokenBatch {
    const { B, T } = this;
    const P = this.maskedPerSeq;
    const inputIds = new Int32Array(B * T);
    const attentionMask = new Int32Array(B * T);
    const tokenTypeIds = new Int32Array(B * T);
    const maskedPositions = new Int32Array(B * P);
    const maskedLabels = new Int32Array(B * P);
    const nspLabels = this.#nsp ? new Int32Array(B) : undefined;
    this.#order.skip(this.#walk.skipBefore() * B);
    const { batch, index } = this.#walk.position;
    this.#at = { batch, row: index * B };
    for (let b = 0; b < B; b++) {
      const i = this.#order.next();
      const ids = inputIds.subarray(b * T, (b + 1) * T);
      const att = attentionMask.subarray(b * T, (b + 1) * T);
      const types = tokenTypeIds.subarray(b * T, (b + 1) * T);
      if (nspLabels) nspLabels[b] = this.#fillNsp(i, b, ids, att, types);
      else this.#fillPlain(i, ids, att);
      this.#masker.maskRow(
        ids,
        att,
        this.#rng(SALT_MASK, i, b),
        maskedPositions.subarray(b * P, (b + 1) * P),
        maskedLabels.subarray(b * P, (b + 1) * P),
        b * T,
      );
    }
    this.#order.skip(this.#walk.skipAfter() * B);
    const out: TokenBatch = {
      B,
      T,
      inputIds,
      attentionMask,
      tokenTypeIds,
      maskedPositions,
      maskedLabels,
    };
    if (nspLabels) out.nspLabels = nspLabels;
    return out;
  }

  /** JSON-serialisable position (and the settings it is only valid for). */
  state(): Record<string, unknown> {
    if (!this.#walk.atBoundary) throw new Error("MlmLoader.state() inside a global batch");
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
      kind: "mlm",
      B: this.B,
      T: this.T,
      tokens: this.#tokens.length,
      vocabSize: this.#sp.vocabSize,
      seed: this.#seed,
      shuffle: this.#shuffle,
      masking: this.#masking,
      maskProb: this.#maskProb,
      nsp: this.#nsp,
    };
  }

  /**
   * Randomness for chunk i in row b of the batch being made: per chunk (static), or per global
   * batch and row within it (dynamic; without a slice, the batch count and b).
   */
  #rng(salt: number, i: number, b: number): Rng {
    return new Rng(
      this.#masking === "static"
        ? mixSeed(this.#seed, salt, i)
        : mixSeed(this.#seed, salt, this.#at.batch, this.#at.row + b),
    );
  }

  /** Length of chunk i (L, or less for the last). */
  #chunkLength(i: number): number {
    return Math.min(this.#L, this.#tokens.length - i * this.#L);
  }

  /** Reads n tokens of chunk i, starting at its offset `from`, into out. */
  #readChunk(i: number, from: number, out: Int32Array): void {
    const start = i * this.#L + from;
    this.#tokens.read(start, out);
    checkIds(out, this.#sp.vocabSize, "token stream", start);
  }

  /** Row = [CLS] chunk [SEP] [PAD]... */
  #fillPlain(i: number, ids: Int32Array, att: Int32Array): void {
    const n = this.#chunkLength(i);
    ids[0] = this.#sp.clsId;
    this.#readChunk(i, 0, ids.subarray(1, 1 + n));
    ids[1 + n] = this.#sp.sepId;
    ids.fill(this.#sp.padId, 2 + n);
    att.fill(1, 0, 2 + n);
  }

  /** Row = [CLS] A [SEP] B [SEP] [PAD]...; returns the NSP label (0 = B is next, 1 = random). */
  #fillNsp(i: number, b: number, ids: Int32Array, att: Int32Array, types: Int32Array): number {
    const rng = this.#rng(SALT_NSP, i, b);
    const n = this.#chunkLength(i);
    const isNext = n >= 2 && rng.next() < 0.5;
    const la = n >= 2 ? 1 + rng.int(n - 1) : 1;
    const { clsId, sepId, padId } = this.#sp;
    ids[0] = clsId;
    this.#readChunk(i, 0, ids.subarray(1, 1 + la));
    ids[1 + la] = sepId;
    let lb: number;
    if (isNext) {
      lb = n - la;
      this.#readChunk(i, la, ids.subarray(2 + la, 2 + la + lb));
    } else {
      let j = rng.int(this.sequences - 1);
      if (j >= i) j++;
      lb = Math.min(Math.max(1, n - la), this.#chunkLength(j));
      this.#readChunk(j, 0, ids.subarray(2 + la, 2 + la + lb));
    }
    const end = 3 + la + lb;
    ids[end - 1] = sepId;
    ids.fill(padId, end);
    att.fill(1, 0, end);
    types.fill(1, 2 + la, end);
    return isNext ? 0 : 1;
  }
}

/**
 * Masked-LM masking of one sequence (BERT's recipe): among the real, non-special tokens of a row
 * choose n = min(maskedPerSeq, max(1, round(maskProb * candidates))) positions uniformly without
 * replacement; at each, the label is the original token and the input becomes [MASK] with
 * probability 0.8, a uniformly random non-special token with probability 0.1, or stays unchanged
 * with probability 0.1. The M = B * maskedPerSeq slots are fixed in size so memory is constant;
 * unused slots point at the row's position 0 (a valid index) with label -1 (ignore).
 *
 * @module
 */

import { DatasetError } from "./errors.ts";
import type { Rng } from "./rng.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** The ids an MLM batch needs. */
export interface MlmSpecials {
  /** Sequence start ([CLS] / <s>). */
  clsId: number;
  /** Sequence / segment end ([SEP] / </s>). */
  sepId: number;
  /** Padding ([PAD] / <pad>). */
  padId: number;
  /** Mask ([MASK] / <mask>). */
  maskId: number;
  /** V. */
  vocabSize: number;
  /** Ids never masked nor drawn as random replacements. */
  specialIds: readonly number[];
}

/** The MLM ids of a tokenizer; a DatasetError if it lacks them (GPT-2 has no [MASK]). */
export function mlmSpecials(tokenizer: Tokenizer): MlmSpecials {
  const { clsId, sepId, padId, maskId } = tokenizer;
  if (clsId === undefined || sepId === undefined || padId === undefined || maskId === undefined) {
    throw new DatasetError(
      `Tokenizer "${tokenizer.name}" has no [CLS]/[SEP]/[PAD]/[MASK] ids, so it cannot make ` +
        `masked-LM batches. Use "bert", "roberta" or "bytes" for masked-LM models.`,
    );
  }
  return {
    clsId,
    sepId,
    padId,
    maskId,
    vocabSize: tokenizer.vocabSize,
    specialIds: tokenizer.specialIds,
  };
}

/** The fixed number of masked slots per sequence: ceil(maskProb * T). */
export function maskedPerSeqFor(T: number, maskProb: number): number {
  return Math.ceil(maskProb * T);
}

/** Masks rows in place (see the module doc). Holds scratch space for one row. */
export class Masker {
  /** Masked slots per row. */
  readonly maskedPerSeq: number;
  readonly #specials: MlmSpecials;
  readonly #maskProb: number;
  readonly #isSpecial: Uint8Array;
  #candidates = new Int32Array(0);

  /**
   * Prepares a masker for rows of up to any length.
   *
   * @param specials The MLM ids and V.
   * @param maskProb Fraction of candidate tokens to predict, in (0, 1).
   * @param maskedPerSeq Slots per row (at most this many positions are masked).
   */
  constructor(specials: MlmSpecials, maskProb: number, maskedPerSeq: number) {
    if (!(maskProb > 0 && maskProb < 1)) {
      throw new DatasetError(
        `Mask probability ${maskProb} is out of range; use a number in (0, 1), e.g. 0.15.`,
      );
    }
    this.#specials = specials;
    this.#maskProb = maskProb;
    this.maskedPerSeq = maskedPerSeq;
    this.#isSpecial = new Uint8Array(specials.vocabSize);
    for (const id of specials.specialIds) this.#isSpecial[id] = 1;
    if (specials.specialIds.length >= specials.vocabSize) {
      throw new DatasetError("Every id of the vocabulary is special; nothing can be masked.");
    }
  }

  /**
   * Masks one row in place and fills its maskedPerSeq slots.
   *
   * @param ids [T] the row's input ids (modified).
   * @param attention [T] 1 for real tokens, 0 for padding.
   * @param rng Randomness for this row.
   * @param positions [maskedPerSeq] out: flat positions rowOffset + t.
   * @param labels [maskedPerSeq] out: original ids, -1 for unused slots.
   * @param rowOffset b * T, added to positions.
   * @returns The number of masked positions n.
   */
  maskRow(
    ids: Int32Array,
    attention: Int32Array,
    rng: Rng,
    positions: Int32Array,
    labels: Int32Array,
    rowOffset: number,
  ): number {
    if (this.#candidates.length < ids.length) this.#candidates = new Int32Array(ids.length);
    const cand = this.#candidates;
    let c = 0;
    for (let t = 0; t < ids.length; t++) {
      if (attention[t] === 1 && !this.#isSpecial[ids[t]]) cand[c++] = t;
    }
    const n = c === 0
      ? 0
      : Math.min(this.maskedPerSeq, Math.max(1, Math.round(this.#maskProb * c)));
    for (let k = 0; k < n; k++) {
      const j = k + rng.int(c - k);
      const tmp = cand[k];
      cand[k] = cand[j];
      cand[j] = tmp;
    }
    const chosen = cand.subarray(0, n).sort();
    for (let k = 0; k < n; k++) {
      const t = chosen[k];
      positions[k] = rowOffset + t;
      labels[k] = ids[t];
      const r = rng.next();
      if (r < 0.8) ids[t] = this.#specials.maskId;
      else if (r < 0.9) ids[t] = this.#randomToken(rng);
    }
    for (let k = n; k < this.maskedPerSeq; k++) {
      positions[k] = rowOffset;
      labels[k] = -1;
    }
    return n;
  }

  #randomToken(rng: Rng): number {
    for (;;) {
      const id = rng.int(this.#specials.vocabSize);
      if (!this.#isSpecial[id]) return id;
    }
  }
}

/**
 * The batch contract between `datasets/` (which produces token batches on the CPU) and the
 * training loop in `core/train/` (which uploads them and hands them to a model).
 *
 * Shapes: B batch, T sequence length, M masked positions (B * maskedPerSeq, fixed per run so that
 * memory does not vary from step to step).
 *
 * @module
 */

/** The fraction of tokens an MLM batch predicts (BERT's 15%). */
export const MLM_MASK_RATE = 0.15;

/**
 * Masked slots per sequence of an MLM batch, ceil(MLM_MASK_RATE * T): fixed for a run, so that
 * M = B * maskedPerSeq(T) and memory do not vary from step to step.
 */
export function maskedPerSeq(T: number): number {
  return Math.ceil(MLM_MASK_RATE * T);
}

/** One batch of token ids and targets, all host-side typed arrays. */
export interface TokenBatch {
  /** Batch size. */
  B: number;
  /** Sequence length. */
  T: number;
  /** [B*T] input token ids. */
  inputIds: Int32Array;
  /** [B*T] next-token targets for causal LM; -1 = ignore. */
  targets?: Int32Array;
  /** [B*T] 1 for a real token, 0 for padding. Absent = no padding. */
  attentionMask?: Int32Array;
  /** [B*T] segment ids (BERT token types). Absent = all zero. */
  tokenTypeIds?: Int32Array;
  /** [M] flat positions b*T+t whose tokens the MLM head predicts. */
  maskedPositions?: Int32Array;
  /** [M] original token id at each masked position; -1 = ignore (padding of the fixed M). */
  maskedLabels?: Int32Array;
  /** [B] next-sentence labels (0 = is next, 1 = random), when the NSP task is on. */
  nspLabels?: Int32Array;
}

/** A resumable stream of batches. `state()` is JSON-serialisable and `restore()` takes it back. */
export interface BatchSource {
  /** The next batch. Deterministic given the seed and the position. */
  next(): TokenBatch;
  /** The position in the stream, to store in a checkpoint. */
  state(): Record<string, unknown>;
  /** Continue from a position returned by `state()`. */
  restore(state: Record<string, unknown>): void;
}

/**
 * The micro-batches of every global batch one process takes (data parallelism). A global batch
 * is `parts` micro-batches of B sequences end to end (ranks x grad-accum): rank r with A
 * micro-batches per step takes `{ parts: N * A, first: r * A, count: A }`, and a loader given
 * it yields exactly the sequences (and, for masked LM, the masks) that a single process with
 * batch N * A * B would put in those rows.
 */
export interface BatchSlice {
  /** Micro-batches in one global batch. */
  parts: number;
  /** The first micro-batch this process takes. */
  first: number;
  /** How many it takes, consecutively. */
  count: number;
}

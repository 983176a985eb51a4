/**
 * What every layer call of a step sees: the encoder, the allocator, the training flag and the RNG
 * coordinates of the step (dropout masks are regenerated from (seed, stream, site, element) in
 * backward).
 *
 * Dropout follows the global sample, not the process or the micro-batch: the stream is the
 * optimizer step, and a micro-batch's tensors (laid out batch-outermost: [B, ...]) start at
 * element `sampleOffset * (elements per sample)` of it, where `sampleOffset` is the micro-batch's
 * first sample in the step's global batch (ranks, then micro-batches, end to end). So 2 ranks x
 * batch B, 1 rank x batch 2B and 1 rank x batch B x 2 micro-batches draw the same masks, and a
 * single process with one micro-batch per step draws what it drew before offsets existed.
 * @module
 */
import type { Allocator } from "./allocator.ts";
import type { Encoder } from "./encoder.ts";

/** Per-step state passed to every layer call. */
export interface StepContext {
  /** Where dispatches are recorded (a planning encoder dispatches nothing). */
  enc: Encoder;
  /** Where every tensor comes from. */
  alloc: Allocator;
  /** Training (dropout on, activations kept, gradients computed) or evaluation. */
  training: boolean;
  /** Run seed: the dropout RNG key. */
  seed: number;
  /** The optimizer step (0-based): the RNG stream base. */
  stream: number;
  /**
   * Global index of this micro-batch's first sample in the step's global batch (rank r, micro-batch
   * m of A, batch B: (r * A + m) * B); absent = 0.
   */
  sampleOffset?: number;
  /** Samples in this micro-batch (B); needed when `sampleOffset` is nonzero. */
  samples?: number;
  /** Multiplier of the loss gradient (1 / grad-accum). */
  lossScale: number;
  /** Told about every layer call of the step (e.g. to attribute memory to layers); usually absent. */
  observer?: StepObserver;
}

/** Watches the layer calls of a step. Executors of layer lists call it; layers never do. */
export interface StepObserver {
  /** Before layer `name`'s forward or backward call. */
  enter(phase: "forward" | "backward", name: string): void;
  /** After that call and the executor's bookkeeping of it (released inputs, summed gradients). */
  leave(phase: "forward" | "backward", name: string): void;
}

/** Dropout sites per step (each block has a few); the stream layout reserves this many. */
export const MAX_SITES = 1024;

/**
 * The stream element at which a dropout call over `n` elements of this micro-batch starts:
 * `sampleOffset * n / samples` (its tensor is batch-outermost, so that is where its first sample
 * starts in the global batch). 0 without an offset.
 */
export function dropoutOffset(ctx: StepContext, n: number): number {
  const first = ctx.sampleOffset ?? 0;
  if (first === 0) return 0;
  const B = ctx.samples ?? 0;
  if (!(B > 0 && n % B === 0)) {
    throw new Error(`dropout over ${n} elements: not a whole number per sample of ${B} samples`);
  }
  return first * (n / B);
}

/** The RNG stream of one dropout site in one step: distinct for every (step, site) pair. */
export function dropoutStream(ctx: StepContext, site: number): number {
  if (!(site >= 0 && site < MAX_SITES)) throw new Error(`dropout site ${site} out of range`);
  return (ctx.stream * MAX_SITES + site) >>> 0;
}

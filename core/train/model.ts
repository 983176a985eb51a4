/**
 * The model contract of the training loop: core/train trains anything that has parameters, a
 * forward that writes the loss into a persistent tensor, and a backward.
 * @module
 */
import type { Allocator } from "../allocator.ts";
import type { Encoder } from "../encoder.ts";
import type { StepContext } from "../step.ts";
import type { Tensor } from "../tensor.ts";
import type { TokenBatch } from "./batch.ts";

/** A trainable tensor and its gradient. */
export interface TrainParam {
  /** Name (checkpoint key). */
  name: string;
  /** Values, category `param`. */
  value: Tensor;
  /** Gradient, category `grad`, accumulated by backward. */
  grad: Tensor;
  /** Whether weight decay applies. */
  decay: boolean;
}

/** What the trainer needs of a model. */
export interface Model {
  /** Parameters in a fixed order. */
  readonly params: readonly TrainParam[];
  /** Persistent [2] f32: mean loss of the last forward, and the number of targets it averaged. */
  readonly loss: Tensor;
  /** Upload `batch` and run forward (keeping activations when `ctx.training`). */
  forward(ctx: StepContext, batch: TokenBatch): void;
  /** Backward of the last forward; adds into the parameters' gradients and frees what it kept. */
  backward(ctx: StepContext): void;
  /** A condition the model's gradients depend on, checked at every step. Optional. */
  readonly guard?: StepGuard;
}

/**
 * A condition a model's gradients depend on (e.g. Tempo LayerNorm rebuilds its input from its
 * output only while every |gamma| is large enough), checked on the GPU at every optimizer step
 * without a host sync. When it trips, the trainer skips the step's update on the GPU, calls
 * `resolve`, and runs the step again (same batches, same RNG streams): no update ever uses
 * gradients the guard distrusts.
 */
export interface StepGuard {
  /** u32 words `check` writes; 0 when there is nothing to check (then no check runs). */
  words(): number;
  /**
   * Encode the check into `flag` ([words] u32, zeroed beforehand). Word 0 nonzero means tripped:
   * AdamW reads it and skips the step. Runs after backward; it must read parameters only.
   */
  check(enc: Encoder, flag: Tensor): void;
  /**
   * After a trip, before the step runs again: find what tripped (the parameters are still those
   * the tripped step saw) and switch it to a path that needs no guard. Returns what was switched.
   */
  resolve(enc: Encoder, alloc: Allocator): Promise<string[]>;
}

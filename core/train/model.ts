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
  /**
   * Checks that need the GPU to answer (e.g. Tempo LayerNorm's gamma guard), run by the loop at
   * sync points: before the first step and whenever it waits anyway. Optional.
   */
  maintain?(enc: Encoder, alloc: Allocator): Promise<void>;
}

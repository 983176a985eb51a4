/**
 * The layer contract. A layer is built for fixed shapes, runs `forward` then `backward` once per
 * step, and declares AS DATA what it keeps for backward and how much memory its calls need, so a
 * planner can sum a model's memory without running it (and a test holds the two equal).
 *
 * Ownership (reference counts, see Allocator.retain/release):
 * - forward(ctx, inputs) borrows its inputs and returns a new output the caller owns; a layer that
 *   keeps an input or its output for backward retains it (`keep`), moving it to `activation`.
 * - backward(ctx, dy) borrows dy and returns new gradients for its inputs (null where an input has
 *   none), and releases everything it kept, last, after its own allocations.
 * @module
 */
import { bytesOf, numel } from "../core/dtype.ts";
import type { Tensor } from "../core/tensor.ts";
import type { StepContext } from "../core/step.ts";
import type { LayerMemory, SavedSpec } from "../core/train/planner.ts";

export type { LayerMemory, SavedSpec };

/** Bytes of a saved spec. */
export function savedBytes(s: SavedSpec): number {
  return bytesOf(s.dtype, numel(s.shape));
}

/** A layer: forward/backward over tensors, with its memory declared as data. */
export interface Layer {
  /** Name, e.g. `block3.ln1`. */
  readonly name: string;
  /** Declared memory (for the shapes the layer was built for). */
  memory(): LayerMemory;
  /** Forward. Returns a new tensor the caller owns. */
  forward(ctx: StepContext, inputs: readonly Tensor[]): Tensor;
  /** Backward. Returns one gradient per input (null where none), new tensors the caller owns. */
  backward(ctx: StepContext, dy: Tensor): (Tensor | null)[];
}

/** Keep `t` for backward: retain it and account it as a saved activation. */
export function keep(ctx: StepContext, t: Tensor): Tensor {
  ctx.alloc.retain(t);
  ctx.alloc.recategorize(t, "activation");
  return t;
}

/** Release kept tensors at the end of backward. */
export function drop(ctx: StepContext, ...ts: (Tensor | null | undefined)[]): void {
  for (const t of ts) if (t) ctx.alloc.release(t);
}

/** The value of an optional kept tensor, or a clear error when backward runs without forward. */
export function need<T>(x: T | null | undefined, layer: string, what: string): T {
  if (x === null || x === undefined) {
    throw new Error(`${layer}: backward without forward (no saved '${what}')`);
  }
  return x;
}

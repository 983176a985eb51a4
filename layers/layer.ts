/**
 * The layer contract. A layer is built for fixed shapes, runs `forward` then `backward` once per
 * step, and declares AS DATA what it keeps for backward (`saves`): the docs' tables and the
 * per-layer tests hold these declarations against the bytes the allocator saw kept. How much a
 * whole step needs is measured, not declared: planning mode runs the real step through the real
 * allocator without a GPU (core/train/memory.ts).
 *
 * Ownership (reference counts, see Allocator.retain/release):
 * - forward(ctx, inputs) borrows its inputs and returns a new output the caller owns; a layer that
 *   keeps an input or its output for backward retains it (`keep`), moving it to `activation`.
 * - backward(ctx, dy) borrows dy and returns new gradients for its inputs (null where an input has
 *   none), and releases everything it kept, last, after its own allocations.
 * @module
 */
import { bytesOf, type DType, numel } from "../core/dtype.ts";
import type { StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";

/** One tensor a layer keeps from forward to backward. */
export interface SavedSpec {
  /** Name within the layer, e.g. `P` or `mask`. */
  name: string;
  /** Shape in elements. */
  shape: readonly number[];
  /** Element type (`u8` / `bit` are packed masks). */
  dtype: DType;
  /**
   * `own`: allocated by the layer for backward alone. `input`/`output`: the layer's (first) input
   * or its output, which neighbouring layers may keep too: a model counts it once, at the first
   * layer that keeps it.
   */
  of: "own" | "input" | "output";
}

/** Bytes of a saved spec. */
export function savedBytes(s: SavedSpec): number {
  return bytesOf(s.dtype, numel(s.shape));
}

/** A layer: forward/backward over tensors, with what it keeps declared as data. */
export interface Layer {
  /** Name, e.g. `block3.ln1`. */
  readonly name: string;
  /** What a training forward keeps for backward (for the shapes the layer was built for). */
  saves(): SavedSpec[];
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

/**
 * tanh (BERT's pooler activation). Keeps its output: dy (1 - y^2) needs nothing else.
 * @module
 */
import { tanhBackward, tanhForward } from "../core/ops/tanh.ts";
import type { FloatDType } from "../core/dtype.ts";
import type { StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import { drop, keep, type Layer, need, type SavedSpec } from "./layer.ts";

/** tanh over `shape`. */
export class Tanh implements Layer {
  #y: Tensor | null = null;
  readonly #n: number;

  constructor(
    readonly name: string,
    readonly shape: readonly number[],
    /** Storage of x, y, dy and dx. */
    readonly dtype: FloatDType = "f32",
  ) {
    this.#n = shape.reduce((a, b) => a * b, 1);
  }

  saves(): SavedSpec[] {
    return [{ name: "y", shape: this.shape, dtype: this.dtype, of: "output" }];
  }

  forward(ctx: StepContext, [x]: readonly Tensor[]): Tensor {
    const y = ctx.alloc.alloc(this.shape, this.dtype, "workspace", `${this.name}.y`);
    tanhForward(ctx.enc, y, x, this.#n);
    if (ctx.training) this.#y = keep(ctx, y);
    return y;
  }

  backward(ctx: StepContext, dy: Tensor): (Tensor | null)[] {
    const y = need(this.#y, this.name, "y");
    const dx = ctx.alloc.alloc(this.shape, this.dtype, "workspace", `${this.name}.dx`);
    tanhBackward(ctx.enc, dx, dy, y, this.#n);
    drop(ctx, y);
    this.#y = null;
    return [dx];
  }
}

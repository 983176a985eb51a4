/**
 * tanh (BERT's pooler activation). Keeps its output: dy (1 - y^2) needs nothing else.
 * @module
 */
import { bytesOf } from "../core/dtype.ts";
import { tanhBackward, tanhForward } from "../core/ops/tanh.ts";
import type { StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import { drop, keep, type Layer, type LayerMemory, need } from "./layer.ts";

/** tanh over `shape`. */
export class Tanh implements Layer {
  #y: Tensor | null = null;
  readonly #n: number;

  constructor(readonly name: string, readonly shape: readonly number[]) {
    this.#n = shape.reduce((a, b) => a * b, 1);
  }

  memory(): LayerMemory {
    const out = bytesOf("f32", this.#n);
    return {
      saves: [{ name: "y", shape: this.shape, dtype: "f32", of: "output" }],
      output: { shape: this.shape, dtype: "f32" },
      forwardPeak: out,
      backwardPeak: out,
    };
  }

  forward(ctx: StepContext, [x]: readonly Tensor[]): Tensor {
    const y = ctx.alloc.alloc(this.shape, "f32", "workspace", `${this.name}.y`);
    tanhForward(ctx.enc, y, x, this.#n);
    if (ctx.training) this.#y = keep(ctx, y);
    return y;
  }

  backward(ctx: StepContext, dy: Tensor): (Tensor | null)[] {
    const y = need(this.#y, this.name, "y");
    const dx = ctx.alloc.alloc(this.shape, "f32", "workspace", `${this.name}.dx`);
    tanhBackward(ctx.enc, dx, dy, y, this.#n);
    drop(ctx, y);
    this.#y = null;
    return [dx];
  }
}

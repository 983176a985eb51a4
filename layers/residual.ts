/**
 * Residual add: y = a + b. Keeps nothing; its gradient flows unchanged to both inputs.
 * @module
 */
import { add } from "../core/ops/elementwise.ts";
import type { FloatDType } from "../core/dtype.ts";
import type { StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import type { Layer, SavedSpec } from "./layer.ts";

/** y[shape] = a + b. */
export class Residual implements Layer {
  constructor(
    readonly name: string,
    readonly shape: readonly number[],
    /** Storage of the inputs and the sum. */
    readonly dtype: FloatDType = "f32",
  ) {}

  saves(): SavedSpec[] {
    return [];
  }

  forward(ctx: StepContext, [a, b]: readonly Tensor[]): Tensor {
    const y = ctx.alloc.alloc(this.shape, this.dtype, "workspace", `${this.name}.y`);
    add(ctx.enc, y, a, b);
    return y;
  }

  backward(ctx: StepContext, dy: Tensor): (Tensor | null)[] {
    // Both inputs receive dy itself: one more reference each, no copy.
    ctx.alloc.retain(dy);
    ctx.alloc.retain(dy);
    return [dy, dy];
  }
}

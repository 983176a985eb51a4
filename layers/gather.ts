/**
 * Row gather for the MLM head: out[M,C] = h[positions[m], :]. Backward scatters into a zeroed
 * [N,C] gradient. Keeps nothing (positions are batch data).
 * @module
 */
import { fill } from "../core/ops/elementwise.ts";
import { gatherRows, scatterRowsAdd } from "../core/ops/rows.ts";
import type { FloatDType } from "../core/dtype.ts";
import type { StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import type { BatchTensors } from "./batch_tensors.ts";
import { type Layer, need, type SavedSpec } from "./layer.ts";

/** Gathers M of N rows. */
export class GatherRows implements Layer {
  constructor(
    readonly name: string,
    /** N source rows. */
    readonly rows: number,
    /** M gathered rows. */
    readonly picked: number,
    /** C. */
    readonly channels: number,
    readonly batch: () => BatchTensors,
    /** Which batch positions: the MLM's masked ones, or each sequence's first token (NSP). */
    readonly which: "maskedPositions" | "clsPositions" = "maskedPositions",
    /** Storage of the rows and their gradients. */
    readonly dtype: FloatDType = "f32",
  ) {}

  saves(): SavedSpec[] {
    return [];
  }

  forward(ctx: StepContext, [h]: readonly Tensor[]): Tensor {
    const pos = need(this.batch()[this.which], this.name, this.which);
    const out = ctx.alloc.alloc(
      [this.picked, this.channels],
      this.dtype,
      "workspace",
      `${this.name}.out`,
    );
    gatherRows(ctx.enc, { out, x: h, positions: pos, M: this.picked, C: this.channels });
    return out;
  }

  backward(ctx: StepContext, dy: Tensor): (Tensor | null)[] {
    const pos = need(this.batch()[this.which], this.name, this.which);
    const dh = ctx.alloc.alloc(
      [this.rows, this.channels],
      this.dtype,
      "workspace",
      `${this.name}.dh`,
    );
    fill(ctx.enc, dh, 0);
    scatterRowsAdd(ctx.enc, { dx: dh, dout: dy, positions: pos, M: this.picked, C: this.channels });
    return [dh];
  }
}

/**
 * The predictions of a tied LM/MLM head, for scoring (masked-token or next-token accuracy): the
 * argmax over V of h[R,C] W^T (+ bias), written as [R] i32 into a persistent tensor. Placed just
 * before the head in an evaluation graph, it reads the head's input and passes it on unchanged,
 * so the loss is computed from the same tensor as without it. Logits are formed in the head's
 * row chunks (`logitsChunkRows`), never whole. Forward only.
 * @module
 */
import { argmaxRows } from "../core/ops/argmax.ts";
import { addBias } from "../core/ops/bias.ts";
import { matmul } from "../core/ops/matmul/matmul.ts";
import type { StepContext } from "../core/step.ts";
import { type Tensor, view } from "../core/tensor.ts";
import type { Layer, SavedSpec } from "./layer.ts";
import { logitsChunkRows } from "./lm_loss.ts";
import type { Param } from "./params.ts";

/** Argmax predictions of the head with `weight` and `bias`, over R rows. */
export class LMArgmax implements Layer {
  constructor(
    readonly name: string,
    /** R rows. */
    readonly rows: number,
    readonly channels: number,
    /** The tied word embedding W [V,C]. */
    readonly weight: Param,
    /** The head's output bias [V], or null. */
    readonly bias: Param | null,
    /** Persistent [R] i32 output: each row's predicted id. */
    readonly predictions: Tensor,
  ) {}

  saves(): SavedSpec[] {
    return [];
  }

  forward(ctx: StepContext, [h]: readonly Tensor[]): Tensor {
    const R = this.rows, C = this.channels, V = this.weight.shape[0];
    const chunk = logitsChunkRows(R, V);
    const logits = ctx.alloc.alloc([chunk, V], "f32", "workspace", `${this.name}.logits`);
    for (let r0 = 0; r0 < R; r0 += chunk) {
      const r = Math.min(chunk, R - r0);
      const lg = r === chunk ? logits : view(logits, 0, [r, V]);
      matmul(ctx.enc, lg, view(h, r0 * C, [r, C]), this.weight.value, r, V, C, { transB: true });
      if (this.bias) addBias(ctx.enc, { y: lg, bias: this.bias.value, rows: r, n: V });
      argmaxRows(ctx.enc, { out: view(this.predictions, r0, [r]), x: lg, rows: r, V });
    }
    ctx.alloc.release(logits);
    return ctx.alloc.retain(h);
  }

  backward(_ctx: StepContext, dy: Tensor): (Tensor | null)[] {
    throw new Error(`${this.name}: a scoring probe has no backward (got ${dy})`);
  }
}

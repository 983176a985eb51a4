/**
 * Linear: y[N,out] = x[N,in] W^T + b, W stored [out,in]. Keeps its input x for dW.
 * @module
 */
import { addBias, sumRows } from "../core/ops/bias.ts";
import { matmul } from "../core/ops/matmul/matmul.ts";
import type { StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import type { FloatDType } from "../core/dtype.ts";
import { drop, keep, type Layer, need, type SavedSpec } from "./layer.ts";
import type { Param, ParamStore } from "./params.ts";

/** Options of a Linear layer. */
export interface LinearOptions {
  /** Has a bias (default true). */
  bias?: boolean;
  /** Init std of the weight (default 0.02). */
  std?: number;
  /**
   * Storage of the input, the output and their gradients (the run's precision; default f32). The
   * weight and bias stay f32 (master weights): the matmul kernels convert them as they read them,
   * and the weight gradient accumulates in f32 from the 16-bit dy and x.
   */
  dtype?: FloatDType;
}

/** A fully connected layer over N rows. */
export class Linear implements Layer {
  /** W [out,in]. */
  readonly weight: Param;
  /** b [out], or null. */
  readonly bias: Param | null;
  /** Storage of x, y and their gradients. */
  readonly dtype: FloatDType;
  #x: Tensor | null = null;

  constructor(
    readonly name: string,
    params: ParamStore,
    /** N: rows (B*T, or M for the MLM head). */
    readonly rows: number,
    /** Input features. */
    readonly inF: number,
    /** Output features. */
    readonly outF: number,
    options: LinearOptions = {},
  ) {
    this.weight = params.create(`${name}.weight`, [outF, inF], {
      kind: "normal",
      std: options.std ?? 0.02,
    }, true);
    this.dtype = options.dtype ?? "f32";
    this.bias = options.bias === false
      ? null
      : params.create(`${name}.bias`, [outF], { kind: "zeros" }, false);
  }

  saves(): SavedSpec[] {
    return [{ name: "x", shape: [this.rows, this.inF], dtype: this.dtype, of: "input" }];
  }

  forward(ctx: StepContext, [x]: readonly Tensor[]): Tensor {
    const { rows: N, inF, outF } = this;
    const y = ctx.alloc.alloc([N, outF], this.dtype, "workspace", `${this.name}.y`); // [N,out]
    matmul(ctx.enc, y, x, this.weight.value, N, outF, inF, { transB: true });
    if (this.bias) addBias(ctx.enc, { y, bias: this.bias.value, rows: N, n: outF });
    if (ctx.training) this.#x = keep(ctx, x);
    return y;
  }

  backward(ctx: StepContext, dy: Tensor): (Tensor | null)[] {
    const { rows: N, inF, outF } = this;
    const x = need(this.#x, this.name, "x");
    const dx = ctx.alloc.alloc([N, inF], this.dtype, "workspace", `${this.name}.dx`); // [N,in]
    matmul(ctx.enc, dx, dy, this.weight.value, N, inF, outF); // dy[N,out] W[out,in]
    matmul(ctx.enc, this.weight.grad, dy, x, outF, inF, N, { transA: true, beta: 1 }); // dy^T x
    if (this.bias) sumRows(ctx.enc, { out: this.bias.grad, x: dy, rows: N, n: outF, beta: 1 });
    drop(ctx, x);
    this.#x = null;
    return [dx];
  }
}

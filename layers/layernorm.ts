/**
 * LayerNorm over the last dimension: y = gamma * (x - mean) * rstd + beta, rows N, channels C.
 * Baseline keeps the input x plus mean and rstd per row. Tempo keeps the output y (which the next
 * layer keeps anyway) plus rstd, and rebuilds xhat = (y - beta) / gamma inside the backward
 * kernel. A channel with |gamma| below `GAMMA_GUARD` makes xhat unrecoverable: the layer then
 * keeps its input like the baseline (`guarded`). `GammaGuard` checks that at every step.
 * @module
 */
import type { Allocator } from "../core/allocator.ts";
import type { Encoder } from "../core/encoder.ts";
import { layernormBackward, layernormForward } from "../core/ops/layernorm.ts";
import { layernormTempoBackward, minAbsGammaFlag } from "../core/ops/layernorm_tempo.ts";
import type { FloatDType } from "../core/dtype.ts";
import type { StepContext } from "../core/step.ts";
import { type Tensor, view } from "../core/tensor.ts";
import type { StepGuard } from "../core/train/model.ts";
import { drop, keep, type Layer, need, type SavedSpec } from "./layer.ts";
import type { Param, ParamStore } from "./params.ts";

/** |gamma| below this in any channel switches a Tempo LayerNorm to keeping its input. */
export const GAMMA_GUARD = 1e-3;

/** LayerNorm over [N, C], baseline or Tempo. */
export class LayerNorm implements Layer {
  /** gamma [C]. */
  readonly gamma: Param;
  /** beta [C]. */
  readonly beta: Param;
  /** True when a Tempo LayerNorm fell back to keeping its input (tiny gamma). */
  guarded = false;
  #x: Tensor | null = null;
  #y: Tensor | null = null;
  #mean: Tensor | null = null;
  #rstd: Tensor | null = null;

  constructor(
    readonly name: string,
    params: ParamStore,
    /** N rows. */
    readonly rows: number,
    /** C channels. */
    readonly channels: number,
    readonly eps: number,
    /** Tempo variant. */
    readonly tempo: boolean,
    /** Storage of x, y, dy and dx (the statistics, gamma and beta stay f32). */
    readonly dtype: FloatDType = "f32",
  ) {
    this.gamma = params.create(`${name}.weight`, [channels], { kind: "ones" }, false);
    this.beta = params.create(`${name}.bias`, [channels], { kind: "zeros" }, false);
  }

  /** Whether this call path is Tempo's (Tempo and not guarded). */
  get usesTempo(): boolean {
    return this.tempo && !this.guarded;
  }

  saves(): SavedSpec[] {
    const { rows: N, channels: C } = this;
    return this.usesTempo
      ? [
        { name: "y", shape: [N, C], dtype: this.dtype, of: "output" },
        { name: "rstd", shape: [N], dtype: "f32", of: "own" },
      ]
      : [
        { name: "x", shape: [N, C], dtype: this.dtype, of: "input" },
        { name: "mean", shape: [N], dtype: "f32", of: "own" },
        { name: "rstd", shape: [N], dtype: "f32", of: "own" },
      ];
  }

  forward(ctx: StepContext, [x]: readonly Tensor[]): Tensor {
    const { rows: N, channels: C } = this;
    const a = ctx.alloc;
    const y = a.alloc([N, C], this.dtype, "workspace", `${this.name}.y`); // [N,C]
    const cat = ctx.training ? "activation" : "workspace";
    const mean = a.alloc([N], "f32", cat, `${this.name}.mean`); // [N]
    const rstd = a.alloc([N], "f32", cat, `${this.name}.rstd`); // [N]
    const gamma = this.gamma.value, beta = this.beta.value;
    layernormForward(ctx.enc, { y, mean, rstd, x, gamma, beta, R: N, C, eps: this.eps });
    if (!ctx.training) {
      drop(ctx, mean, rstd);
      return y;
    }
    if (this.usesTempo) {
      drop(ctx, mean); // Tempo needs only rstd
      this.#y = keep(ctx, y);
    } else {
      this.#x = keep(ctx, x);
      this.#mean = mean;
    }
    this.#rstd = rstd;
    return y;
  }

  backward(ctx: StepContext, dy: Tensor): (Tensor | null)[] {
    const { rows: N, channels: C } = this;
    const rstd = need(this.#rstd, this.name, "rstd");
    const dx = ctx.alloc.alloc([N, C], this.dtype, "workspace", `${this.name}.dx`); // [N,C]
    const g = this.gamma, b = this.beta;
    if (this.#y) {
      layernormTempoBackward(ctx.enc, {
        dx,
        dgamma: g.grad,
        dbeta: b.grad,
        dy,
        y: this.#y,
        rstd,
        gamma: g.value,
        beta: b.value,
        R: N,
        C,
      });
    } else {
      const x = need(this.#x, this.name, "x"), mean = need(this.#mean, this.name, "mean");
      const grads = { dx, dgamma: g.grad, dbeta: b.grad, dy };
      layernormBackward(ctx.enc, { ...grads, x, mean, rstd, gamma: g.value, R: N, C });
    }
    drop(ctx, this.#x, this.#y, this.#mean, rstd);
    this.#x =
      this.#y =
      this.#mean =
      this.#rstd =
        null;
    return [dx];
  }
}

/**
 * The gamma guard of Tempo LayerNorms, checked at every step (a `StepGuard`): one tiny dispatch
 * per Tempo LayerNorm still on its Tempo path ORs into one u32 word whether some |gamma| is below
 * GAMMA_GUARD; no host sync. After a trip, `resolve` checks each of them again (one read) and
 * switches the flagged ones to keeping their input for the rest of the run.
 */
export class GammaGuard implements StepGuard {
  constructor(readonly layers: readonly LayerNorm[]) {}

  /** The layers checked: Tempo LayerNorms not guarded yet. */
  get watched(): LayerNorm[] {
    return this.layers.filter((l) => l.usesTempo);
  }

  words(): number {
    return this.watched.length > 0 ? 1 : 0;
  }

  check(enc: Encoder, flag: Tensor): void {
    for (const l of this.watched) {
      minAbsGammaFlag(enc, flag, l.gamma.value, l.channels, GAMMA_GUARD, { or: true });
    }
  }

  async resolve(enc: Encoder, alloc: Allocator): Promise<string[]> {
    const watched = this.watched;
    if (watched.length === 0 || enc.planning) return [];
    const stride = 64; // 256-byte aligned flag slots
    const flags = alloc.alloc([watched.length * stride], "u32", "workspace", "ln.guard.flags");
    watched.forEach((l, i) => {
      minAbsGammaFlag(enc, view(flags, i * stride, [1]), l.gamma.value, l.channels, GAMMA_GUARD);
    });
    const host = new Uint32Array(await enc.read(flags));
    alloc.release(flags);
    const tripped = watched.filter((_, i) => host[i * stride] !== 0);
    for (const l of tripped) l.guarded = true;
    return tripped.map((l) => l.name);
  }
}

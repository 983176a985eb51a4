/**
 * LayerNorm over the last dimension: y = gamma * (x - mean) * rstd + beta, rows N, channels C.
 * Baseline keeps the input x plus mean and rstd per row. Tempo keeps the output y (which the next
 * layer keeps anyway) plus rstd, and rebuilds xhat = (y - beta) / gamma inside the backward
 * kernel. A channel with |gamma| below `GAMMA_GUARD` makes xhat unrecoverable: the layer then
 * keeps its input like the baseline (`guarded`), and says so in `guardReport`.
 * @module
 */
import { bytesOf } from "../core/dtype.ts";
import type { Allocator } from "../core/allocator.ts";
import type { Encoder } from "../core/encoder.ts";
import { layernormBackward, layernormForward } from "../core/ops/layernorm.ts";
import { layernormTempoBackward, minAbsGammaFlag } from "../core/ops/layernorm_tempo.ts";
import type { StepContext } from "../core/step.ts";
import { type Tensor, view } from "../core/tensor.ts";
import { drop, keep, type Layer, type LayerMemory, need, type SavedSpec } from "./layer.ts";
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
  ) {
    this.gamma = params.create(`${name}.weight`, [channels], { kind: "ones" }, false);
    this.beta = params.create(`${name}.bias`, [channels], { kind: "zeros" }, false);
  }

  /** Whether this call path is Tempo's (Tempo and not guarded). */
  get usesTempo(): boolean {
    return this.tempo && !this.guarded;
  }

  memory(): LayerMemory {
    const { rows: N, channels: C } = this;
    const row = bytesOf("f32", N), full = bytesOf("f32", N * C);
    const saves: SavedSpec[] = this.usesTempo
      ? [
        { name: "y", shape: [N, C], dtype: "f32", of: "output" },
        { name: "rstd", shape: [N], dtype: "f32", of: "own" },
      ]
      : [
        { name: "x", shape: [N, C], dtype: "f32", of: "input" },
        { name: "mean", shape: [N], dtype: "f32", of: "own" },
        { name: "rstd", shape: [N], dtype: "f32", of: "own" },
      ];
    return {
      saves,
      output: { shape: [N, C], dtype: "f32" },
      forwardPeak: full + 2 * row,
      backwardPeak: full,
    };
  }

  forward(ctx: StepContext, [x]: readonly Tensor[]): Tensor {
    const { rows: N, channels: C } = this;
    const a = ctx.alloc;
    const y = a.alloc([N, C], "f32", "workspace", `${this.name}.y`); // [N,C]
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
    const dx = ctx.alloc.alloc([N, C], "f32", "workspace", `${this.name}.dx`); // [N,C]
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
 * The gamma guard of Tempo LayerNorms: one GPU pass flags every layer with some |gamma| below
 * GAMMA_GUARD, one read brings the flags back, and flagged layers keep their input from then on
 * (and their `guarded` flag says so). Call it at sync points (before training, between logged
 * steps). Returns the names of the guarded layers.
 */
export async function checkGammaGuards(
  enc: Encoder,
  alloc: Allocator,
  layers: readonly LayerNorm[],
): Promise<string[]> {
  const tempo = layers.filter((l) => l.tempo);
  if (tempo.length > 0 && !enc.planning) {
    const stride = 64; // 256-byte aligned flag slots
    const flags = alloc.alloc([tempo.length * stride], "u32", "workspace", "ln.guard.flags");
    tempo.forEach((l, i) => {
      minAbsGammaFlag(enc, view(flags, i * stride, [1]), l.gamma.value, l.channels, GAMMA_GUARD);
    });
    const host = new Uint32Array(await enc.read(flags));
    alloc.release(flags);
    tempo.forEach((l, i) => {
      if (host[i * stride] !== 0) l.guarded = true;
    });
  }
  return layers.filter((l) => l.guarded).map((l) => l.name);
}

/**
 * Dropout: y = keep ? x / (1 - p) : 0. Keeps its mask as bytes or bits, or nothing at all when the
 * mask is regenerated from the counter RNG (seed, step stream, site) in backward.
 * @module
 */
import { dropoutBackward, dropoutForward } from "../core/ops/dropout.ts";
import type { FloatDType } from "../core/dtype.ts";
import { dropoutOffset, dropoutStream, type StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import { drop, type Layer, type SavedSpec } from "./layer.ts";
import type { MaskStorage } from "./tempo_options.ts";

/** Mask dtype for a storage mode, or null when regenerated. */
export function maskDtype(masks: MaskStorage): "u8" | "bit" | null {
  return masks === "bytes" ? "u8" : masks === "bits" ? "bit" : null;
}

/** Dropout over `shape` at probability p, at RNG site `site`. */
export class Dropout implements Layer {
  #mask: Tensor | null = null;
  #stream = 0;
  #offset = 0;
  readonly #n: number;

  constructor(
    readonly name: string,
    readonly shape: readonly number[],
    readonly p: number,
    readonly site: number,
    readonly masks: MaskStorage,
    /** Storage of x, y, dy and dx. */
    readonly dtype: FloatDType = "f32",
  ) {
    this.#n = shape.reduce((a, b) => a * b, 1);
  }

  /** Whether the layer does anything (p > 0). In evaluation it never does. */
  get active(): boolean {
    return this.p > 0;
  }

  saves(): SavedSpec[] {
    const dt = maskDtype(this.masks);
    return this.active && dt ? [{ name: "mask", shape: [this.#n], dtype: dt, of: "own" }] : [];
  }

  forward(ctx: StepContext, [x]: readonly Tensor[]): Tensor {
    if (!this.active || !ctx.training) return ctx.alloc.retain(x);
    const y = ctx.alloc.alloc(this.shape, this.dtype, "workspace", `${this.name}.y`);
    const dt = maskDtype(this.masks);
    this.#stream = dropoutStream(ctx, this.site);
    this.#offset = dropoutOffset(ctx, this.#n);
    const mask = dt ? ctx.alloc.alloc([this.#n], dt, "activation", `${this.name}.mask`) : null;
    const rng = { p: this.p, seed: ctx.seed, stream: this.#stream, offset: this.#offset };
    dropoutForward(ctx.enc, { y, x, n: this.#n, ...rng, mask, maskDtype: dt ?? undefined });
    this.#mask = mask;
    return y;
  }

  backward(ctx: StepContext, dy: Tensor): (Tensor | null)[] {
    if (!this.active) return [ctx.alloc.retain(dy)];
    const dx = ctx.alloc.alloc(this.shape, this.dtype, "workspace", `${this.name}.dx`);
    const dt = maskDtype(this.masks);
    const source = this.#mask && dt
      ? { mask: this.#mask, maskDtype: dt }
      : { seed: ctx.seed, stream: this.#stream, offset: this.#offset };
    dropoutBackward(ctx.enc, { dx, dy, n: this.#n, p: this.p, source });
    drop(ctx, this.#mask);
    this.#mask = null;
    return [dx];
  }
}

/**
 * GELU, erf form (BERT, RoBERTa) or tanh form (GPT-2), over n elements.
 * Baseline keeps its input u. Tempo keeps its output g (which FFN2 keeps anyway) plus one branch
 * bit per element, m = [u >= x_min], packed as bytes or bits; backward recovers u by Newton's
 * method and evaluates the exact derivative.
 * @module
 */
import { geluBackward, type GeluForm, geluForward } from "../core/ops/gelu.ts";
import { geluTempoBackward, geluTempoForward } from "../core/ops/gelu_tempo.ts";
import type { FloatDType } from "../core/dtype.ts";
import type { StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import { drop, keep, type Layer, need, type SavedSpec } from "./layer.ts";
import type { MaskStorage } from "./tempo_options.ts";

export type { GeluForm };

/** GELU over `shape`, baseline or Tempo. */
export class Gelu implements Layer {
  #x: Tensor | null = null;
  #y: Tensor | null = null;
  #mask: Tensor | null = null;
  readonly #n: number;

  constructor(
    readonly name: string,
    readonly shape: readonly number[],
    readonly form: GeluForm,
    /** Tempo variant. */
    readonly tempo: boolean,
    /** Branch-mask storage: bytes keeps one byte per element; bits and regen pack 32 per word. */
    readonly masks: MaskStorage,
    /** Storage of x, y, dy and dx. */
    readonly dtype: FloatDType = "f32",
  ) {
    this.#n = shape.reduce((a, b) => a * b, 1);
  }

  /** The branch mask's dtype. */
  get maskDtype(): "u8" | "bit" {
    return this.masks === "bytes" ? "u8" : "bit";
  }

  saves(): SavedSpec[] {
    const n = this.#n;
    return this.tempo
      ? [
        { name: "y", shape: this.shape, dtype: this.dtype, of: "output" },
        { name: "mask", shape: [n], dtype: this.maskDtype, of: "own" },
      ]
      : [{ name: "x", shape: this.shape, dtype: this.dtype, of: "input" }];
  }

  forward(ctx: StepContext, [x]: readonly Tensor[]): Tensor {
    const y = ctx.alloc.alloc(this.shape, this.dtype, "workspace", `${this.name}.y`);
    if (!ctx.training) {
      geluForward(ctx.enc, { y, x, n: this.#n, form: this.form });
      return y;
    }
    if (this.tempo) {
      const mask = ctx.alloc.alloc([this.#n], this.maskDtype, "activation", `${this.name}.mask`);
      geluTempoForward(ctx.enc, {
        y,
        mask,
        x,
        n: this.#n,
        form: this.form,
        maskDtype: this.maskDtype,
      });
      this.#mask = mask;
      this.#y = keep(ctx, y);
    } else {
      geluForward(ctx.enc, { y, x, n: this.#n, form: this.form });
      this.#x = keep(ctx, x);
    }
    return y;
  }

  backward(ctx: StepContext, dy: Tensor): (Tensor | null)[] {
    const dx = ctx.alloc.alloc(this.shape, this.dtype, "workspace", `${this.name}.dx`);
    if (this.tempo) {
      const y = need(this.#y, this.name, "y"), mask = need(this.#mask, this.name, "mask");
      const { form, maskDtype } = this;
      geluTempoBackward(ctx.enc, { dx, dy, y, mask, n: this.#n, form, maskDtype });
    } else {
      const x = need(this.#x, this.name, "x");
      geluBackward(ctx.enc, { dx, dy, x, n: this.#n, form: this.form });
    }
    drop(ctx, this.#x, this.#y, this.#mask);
    this.#x = this.#y = this.#mask = null;
    return [dx];
  }
}

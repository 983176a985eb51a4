/**
 * The tied output projection for inference: logits[R,V] = h[R,C] W^T (+ bias), W the word
 * embedding [V,C], the same parameters the training head (`LMLoss`, layers/lm_loss.ts) uses,
 * returned whole for the caller to read (R is small when decoding or filling masks: the last
 * position, or the masked ones). Forward only.
 * @module
 */
import { addBias } from "../core/ops/bias.ts";
import { matmul } from "../core/ops/matmul/matmul.ts";
import type { StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import type { Layer, SavedSpec } from "./layer.ts";
import type { Param, ParamStore } from "./params.ts";

/** Logits of R rows against the tied word embedding. */
export class LMLogits implements Layer {
  /** Output bias [V] (`<name>.bias`, the training head's), or null. */
  readonly bias: Param | null;

  constructor(
    /** The training head's name (`lm_head`, `mlm.decoder`): its bias is `<name>.bias`. */
    readonly name: string,
    params: ParamStore,
    /** R rows. */
    readonly rows: number,
    readonly channels: number,
    /** The tied word embedding W [V,C]. */
    readonly weight: Param,
    withBias: boolean,
  ) {
    const V = weight.shape[0];
    this.bias = withBias ? params.create(`${name}.bias`, [V], { kind: "zeros" }, false) : null;
  }

  saves(): SavedSpec[] {
    return [];
  }

  forward(ctx: StepContext, [h]: readonly Tensor[]): Tensor {
    const R = this.rows, C = this.channels, V = this.weight.shape[0];
    const logits = ctx.alloc.alloc([R, V], "f32", "workspace", `${this.name}.logits`); // [R,V]
    matmul(ctx.enc, logits, h, this.weight.value, R, V, C, { transB: true });
    if (this.bias) addBias(ctx.enc, { y: logits, bias: this.bias.value, rows: R, n: V });
    return logits;
  }

  backward(): (Tensor | null)[] {
    throw new Error(`${this.name}: the logits head is for inference; it has no backward`);
  }
}

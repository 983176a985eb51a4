/**
 * Fused attention (`--attention fused`): the attention core between the QKV projection and the
 * output projection, like layers/attention.ts, computed by core/ops/flash_attention.ts so that the
 * [B, NH, T, T] probabilities never exist:
 *   qkv [B,T,3C] -> out [B,T,C] = dropout(softmax(Q K^T / sqrt(HS) + masks)) V per head
 * It keeps the qkv tensor it reads (its input: Q, K and V, 12C bytes per token), its output (which
 * the output projection keeps anyway: counted once) and one f32 log-sum-exp per row and head
 * ([B, NH, T], 4 NH bytes per token); backward recomputes S and P block by block from them.
 * Against Tempo's attention (Q, K, V and P) it saves P's 4 NH T bytes per token, whatever T.
 * Dropout of P draws the unfused layer's mask (same stream, same element index) and never
 * stores it, whatever `--masks` says (a stored [B, NH, T, T] mask would defeat the layer).
 * @module
 */
import type { FloatDType } from "../core/dtype.ts";
import { TempoError } from "../core/errors.ts";
import {
  FLASH_MAX_HS,
  flashAttentionBackward,
  flashAttentionForward,
} from "../core/ops/flash_attention.ts";
import { dropoutStream, type StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import type { AttentionShape } from "./attention.ts";
import { drop, keep, type Layer, need, type SavedSpec } from "./layer.ts";

/**
 * Fused attention core. Inputs: [qkv [B,T,3C], padMask (i32 [B*T], 1 real / 0 pad) or absent].
 * Output [B,T,C]. Gradient only for qkv.
 */
export class FusedAttention implements Layer {
  #qkv: Tensor | null = null;
  #out: Tensor | null = null;
  #lse: Tensor | null = null;
  #pad: Tensor | null = null;
  #stream = 0;

  constructor(
    readonly name: string,
    readonly shape: AttentionShape,
    /** Dropout probability on P. */
    readonly p: number,
    /** Dropout RNG site (the unfused layer's, so that both draw the same mask). */
    readonly site: number,
    /** Causal (GPT-2) or bidirectional. */
    readonly causal: boolean,
    /** Storage of qkv, out and their gradients (the log-sum-exps stay f32). */
    readonly dtype: FloatDType = "f32",
  ) {
    const HS = shape.HS;
    if (HS % 4 !== 0 || HS > FLASH_MAX_HS) {
      throw new TempoError(
        `${name}: fused attention needs a head size that is a multiple of 4 up to ` +
          `${FLASH_MAX_HS}, this model's is ${HS} (hidden / heads)`,
        "use --attention standard, or a config whose hidden / heads is such a size",
      );
    }
  }

  saves(): SavedSpec[] {
    const { B, T, NH, HS } = this.shape, C = NH * HS;
    return [
      { name: "qkv", shape: [B, T, 3 * C], dtype: this.dtype, of: "input" },
      { name: "out", shape: [B, T, C], dtype: this.dtype, of: "output" },
      { name: "lse", shape: [B, NH, T], dtype: "f32", of: "own" },
    ];
  }

  #masks(ctx: StepContext, pad: Tensor | null) {
    const drops = this.p > 0 && ctx.training;
    return {
      causal: this.causal,
      padMask: pad,
      dropout: drops ? { p: this.p, seed: ctx.seed, stream: this.#stream } : null,
    };
  }

  forward(ctx: StepContext, inputs: readonly Tensor[]): Tensor {
    const [qkv, pad] = inputs;
    const { B, T, NH, HS } = this.shape;
    const a = ctx.alloc, L = this.name;
    const out = a.alloc([B, T, NH * HS], this.dtype, "workspace", `${L}.out`);
    const cat = ctx.training ? "activation" : "workspace";
    const lse = a.alloc([B, NH, T], "f32", cat, `${L}.lse`);
    if (this.p > 0 && ctx.training) this.#stream = dropoutStream(ctx, this.site);
    const masks = this.#masks(ctx, pad ?? null);
    flashAttentionForward(ctx.enc, { B, T, NH, HS, ...masks, out, lse, qkv });
    if (!ctx.training) {
      a.release(lse);
      return out;
    }
    this.#qkv = keep(ctx, qkv);
    this.#out = keep(ctx, out);
    this.#lse = lse;
    // The pad mask is batch data (the model's, alive until its backward ends): held, not kept.
    this.#pad = pad ?? null;
    if (this.#pad) a.retain(this.#pad);
    return out;
  }

  backward(ctx: StepContext, dout: Tensor): (Tensor | null)[] {
    const { B, T, NH, HS } = this.shape;
    const a = ctx.alloc, L = this.name;
    const qkv = need(this.#qkv, L, "qkv"), out = need(this.#out, L, "out");
    const lse = need(this.#lse, L, "lse");
    const D = a.alloc([B, NH, T], "f32", "workspace", `${L}.D`);
    const dqkv = a.alloc([B, T, 3 * NH * HS], this.dtype, "workspace", `${L}.dqkv`);
    const masks = this.#masks(ctx, this.#pad);
    flashAttentionBackward(ctx.enc, { B, T, NH, HS, ...masks, dqkv, D, dout, out, lse, qkv });
    drop(ctx, D, qkv, out, lse, this.#pad);
    this.#qkv =
      this.#out =
      this.#lse =
      this.#pad =
        null;
    return [dqkv, null];
  }
}

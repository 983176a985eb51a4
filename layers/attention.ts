/**
 * Multi-head self-attention core, between the QKV projection and the output projection:
 *   qkv [B,T,3C] -> Q,K,V [B,NH,T,HS] -> S = Q K^T [B,NH,T,T] -> P = softmax(S/sqrt(HS) + masks)
 *   -> P~ = dropout(P) -> ctx = P~ V [B,NH,T,HS] -> out [B,T,C]
 * Baseline keeps Q, K, V, P, the dropout mask and P~. Tempo keeps Q, K, V, P and the mask (none
 * when regenerated) and recomputes P~ in backward; softmax backward uses only P.
 * @module
 */
import { dropoutBackward, dropoutForward, type DropoutSource } from "../core/ops/dropout.ts";
import { joinHeads, mergeHeads, splitHeads, splitHeadsOf } from "../core/ops/heads.ts";
import { matmul } from "../core/ops/matmul/matmul.ts";
import { softmaxBackward, softmaxForward } from "../core/ops/softmax.ts";
import { dropoutOffset, dropoutStream, type StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import type { FloatDType } from "../core/dtype.ts";
import { maskDtype } from "./dropout.ts";
import { drop, type Layer, need, type SavedSpec } from "./layer.ts";
import type { MaskStorage } from "./tempo_options.ts";

/** Shapes and switches of an attention layer. */
export interface AttentionShape {
  /** B batch. */
  B: number;
  /** T sequence length. */
  T: number;
  /** NH heads. */
  NH: number;
  /** HS head size. */
  HS: number;
}

/**
 * Attention core. Inputs: [qkv [B,T,3C], padMask (i32 [B*T], 1 real / 0 pad) or absent].
 * Output [B,T,C]. Gradient only for qkv.
 */
export class Attention implements Layer {
  #q: Tensor | null = null;
  #k: Tensor | null = null;
  #v: Tensor | null = null;
  #p: Tensor | null = null;
  #pd: Tensor | null = null;
  #mask: Tensor | null = null;
  #stream = 0;
  #offset = 0;

  constructor(
    readonly name: string,
    readonly shape: AttentionShape,
    /** Dropout probability on P. */
    readonly p: number,
    /** Dropout RNG site. */
    readonly site: number,
    /** Causal (GPT-2) or bidirectional. */
    readonly causal: boolean,
    /** Tempo variant. */
    readonly tempo: boolean,
    readonly masks: MaskStorage,
    /**
     * Storage of qkv, Q, K, V, the probabilities and every gradient (the run's precision).
     * Softmax computes in f32 and stores P in it, as Megatron's and Apex's fused kernels do.
     */
    readonly dtype: FloatDType = "f32",
  ) {}

  /**
   * Storage of the scores, P, P~ and their gradients (one buffer holds S, then P, and another
   * dP~, dP, then dS): the layer's dtype, but bf16 in an f16 run and f32 for bf16 at an odd T.
   * f16's range cannot hold the loss-scaled dP = dC V^T (measured on gpt2-tiny at lr 3e-3: f16
   * scores made steps 94, 96 and 97 overflow and step 94's loss depart from f32's by 0.46; bf16
   * scores in the same run removed both, at the same bytes). Rows of odd T in bf16 would share
   * u32 words between the matmul's invocations.
   */
  get scoresDtype(): FloatDType {
    const d = this.dtype === "f16" ? "bf16" : this.dtype;
    return d === "bf16" && this.shape.T % 2 === 1 ? "f32" : d;
  }

  saves(): SavedSpec[] {
    const { B, T, NH, HS } = this.shape;
    const heads = [B, NH, T, HS], scores = [B, NH, T, T];
    const dt = maskDtype(this.masks);
    const drops = this.p > 0;
    const d = this.dtype, ds = this.scoresDtype;
    const saves: SavedSpec[] = [
      { name: "Q", shape: heads, dtype: d, of: "own" },
      { name: "K", shape: heads, dtype: d, of: "own" },
      { name: "V", shape: heads, dtype: d, of: "own" },
      { name: "P", shape: scores, dtype: ds, of: "own" },
    ];
    if (drops && dt) saves.push({ name: "mask", shape: scores, dtype: dt, of: "own" });
    if (drops && !this.tempo) saves.push({ name: "Pdrop", shape: scores, dtype: ds, of: "own" });
    return saves;
  }

  forward(ctx: StepContext, inputs: readonly Tensor[]): Tensor {
    const [qkv, pad] = inputs;
    const { B, T, NH, HS } = this.shape;
    const a = ctx.alloc, enc = ctx.enc, L = this.name, d = this.dtype, ds = this.scoresDtype;
    const BH = B * NH, n = BH * T * T;
    const cat = ctx.training ? "activation" : "workspace";
    const q = a.alloc([B, NH, T, HS], d, cat, `${L}.Q`);
    const k = a.alloc([B, NH, T, HS], d, cat, `${L}.K`);
    const v = a.alloc([B, NH, T, HS], d, cat, `${L}.V`);
    splitHeads(enc, { q, k, v, qkv, B, T, NH, HS });
    const P = a.alloc([B, NH, T, T], ds, cat, `${L}.P`); // S, then P in place
    matmul(enc, P, q, k, T, T, HS, { transB: true, batch: BH });
    softmaxForward(enc, {
      P,
      S: P,
      rows: BH * T,
      cols: T,
      scale: 1 / Math.sqrt(HS),
      causal: this.causal,
      T,
      padMask: pad ?? null,
      rowsPerBatch: NH * T,
    });
    const drops = this.p > 0 && ctx.training;
    let pd = P, mask: Tensor | null = null;
    if (drops) {
      const dt = maskDtype(this.masks);
      pd = a.alloc([B, NH, T, T], ds, this.tempo ? "workspace" : "activation", `${L}.Pdrop`);
      mask = dt ? a.alloc([n], dt, "activation", `${L}.mask`) : null;
      this.#stream = dropoutStream(ctx, this.site);
      this.#offset = dropoutOffset(ctx, n);
      const rng = { p: this.p, seed: ctx.seed, stream: this.#stream, offset: this.#offset };
      dropoutForward(enc, { y: pd, x: P, n, ...rng, mask, maskDtype: dt ?? undefined });
    }
    const c4 = a.alloc([B, NH, T, HS], d, "workspace", `${L}.ctx`);
    matmul(enc, c4, pd, v, T, HS, T, { batch: BH });
    const out = a.alloc([B, T, NH * HS], d, "workspace", `${L}.out`);
    mergeHeads(enc, { out, ctx: c4, B, T, NH, HS });
    a.release(c4);
    if (!ctx.training) {
      drop(ctx, q, k, v, P);
      return out;
    }
    if (drops && this.tempo) {
      a.release(pd);
      pd = P;
    }
    this.#q = q, this.#k = k, this.#v = v, this.#p = P, this.#mask = mask;
    this.#pd = pd === P ? null : pd;
    return out;
  }

  backward(ctx: StepContext, dout: Tensor): (Tensor | null)[] {
    const { B, T, NH, HS } = this.shape;
    const a = ctx.alloc, enc = ctx.enc, L = this.name, d = this.dtype, ds = this.scoresDtype;
    const BH = B * NH, n = BH * T * T;
    const q = need(this.#q, L, "Q"), k = need(this.#k, L, "K"), v = need(this.#v, L, "V");
    const P = need(this.#p, L, "P");
    const drops = this.p > 0;
    const dt = maskDtype(this.masks);
    const source: DropoutSource = this.#mask && dt
      ? { mask: this.#mask, maskDtype: dt }
      : { seed: ctx.seed, stream: this.#stream, offset: this.#offset };
    const dc = a.alloc([B, NH, T, HS], d, "workspace", `${L}.dctx`);
    splitHeadsOf(enc, { dctx: dc, dout, B, T, NH, HS });
    const dv = a.alloc([B, NH, T, HS], d, "workspace", `${L}.dV`);
    const buf = a.alloc([B, NH, T, T], ds, "workspace", `${L}.dP`);
    let pd = P, bits: Tensor | null = null, second: DropoutSource = source;
    if (drops && this.#pd) pd = this.#pd;
    else if (drops && "mask" in source) {
      dropoutBackward(enc, { dx: buf, dy: P, n, p: this.p, source }); // P~ = mask * P / keep
      pd = buf;
    } else if (drops) {
      // Regenerated mask: draw it once, keeping it as bits until dP (1/32 of P's bytes).
      bits = a.alloc([n], "bit", "workspace", `${L}.regen_bits`);
      const rng = { p: this.p, seed: ctx.seed, stream: this.#stream, offset: this.#offset };
      dropoutForward(enc, { y: buf, x: P, n, ...rng, mask: bits, maskDtype: "bit" }); // P~
      second = { mask: bits, maskDtype: "bit" };
      pd = buf;
    }
    matmul(enc, dv, pd, dc, T, HS, T, { transA: true, batch: BH }); // dV = P~^T dC
    matmul(enc, buf, dc, v, T, T, HS, { transB: true, batch: BH }); // dP~ = dC V^T
    if (drops) dropoutBackward(enc, { dx: buf, dy: buf, n, p: this.p, source: second }); // dP
    if (bits) a.release(bits);
    const rows = BH * T, scale = 1 / Math.sqrt(HS);
    softmaxBackward(enc, { dS: buf, dP: buf, P, rows, cols: T, scale }); // dS (scale folded in)
    const dq = a.alloc([B, NH, T, HS], d, "workspace", `${L}.dQ`);
    const dk = a.alloc([B, NH, T, HS], d, "workspace", `${L}.dK`);
    matmul(enc, dq, buf, k, T, HS, T, { batch: BH }); // dQ = dS K
    matmul(enc, dk, buf, q, T, HS, T, { transA: true, batch: BH }); // dK = dS^T Q
    const dqkv = a.alloc([B, T, 3 * NH * HS], d, "workspace", `${L}.dqkv`);
    joinHeads(enc, { dqkv, dq, dk, dv, B, T, NH, HS });
    drop(ctx, dc, dv, buf, dq, dk);
    drop(ctx, q, k, v, P, this.#pd, this.#mask);
    this.#q =
      this.#k =
      this.#v =
      this.#p =
      this.#pd =
      this.#mask =
        null;
    return [dqkv, null];
  }
}

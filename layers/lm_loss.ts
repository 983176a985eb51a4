/**
 * Tied LM/MLM output and loss: logits[R,V] = h[R,C] W^T (+ bias) with W the word embedding [V,C],
 * then softmax-cross-entropy against the targets. The [R,V] logits never exist whole: rows are
 * processed in chunks, and in training each chunk's gradient (which overwrites its logits) is
 * immediately turned into dh and the weight gradients. So this layer keeps only dh [R,C] for
 * backward, and its forward writes the mean loss into a persistent [2] tensor (mean, count).
 * @module
 */
import { addBias, sumRows } from "../core/ops/bias.ts";
import { crossEntropy, meanLoss } from "../core/ops/cross_entropy.ts";
import { matmul } from "../core/ops/matmul/matmul.ts";
import type { FloatDType } from "../core/dtype.ts";
import type { StepContext } from "../core/step.ts";
import { type Tensor, view } from "../core/tensor.ts";
import type { BatchTensors } from "./batch_tensors.ts";
import { type Layer, need, type SavedSpec } from "./layer.ts";
import type { Param, ParamStore } from "./params.ts";

/** Bytes of one chunk of logits at most. */
export const LOGITS_CHUNK_BYTES = 32 << 20;

/** Rows per logits chunk: all rows if they fit, else a multiple of 64 (binding alignment). */
export function logitsChunkRows(rows: number, vocab: number): number {
  if (rows * vocab * 4 <= LOGITS_CHUNK_BYTES) return rows;
  return Math.max(64, Math.floor(LOGITS_CHUNK_BYTES / (vocab * 4) / 64) * 64);
}

/** Output projection tied to the word embeddings, plus the fused cross-entropy loss. */
export class LMLoss implements Layer {
  /** Output bias [V] (BERT/RoBERTa), or null (GPT-2). */
  readonly bias: Param | null;
  #dh: Tensor | null = null;

  constructor(
    readonly name: string,
    params: ParamStore,
    /** R rows (N for causal LM, M for MLM). */
    readonly rows: number,
    readonly channels: number,
    /** The tied word embedding W [V,C]. */
    readonly weight: Param,
    withBias: boolean,
    /** Persistent [2] f32 output: mean loss, target count. */
    readonly lossOut: Tensor,
    readonly batch: () => BatchTensors,
    /** Targets: the LM/MLM targets, or the next-sentence labels (NSP head). */
    readonly which: "lm" | "nsp" = "lm",
    /**
     * Storage of h and dh (the run's precision). The logits chunk stays f32: the cross-entropy
     * reads it, overwrites it with its gradient and both matmuls read that, all in f32.
     */
    readonly dtype: FloatDType = "f32",
  ) {
    const V = weight.shape[0];
    this.bias = withBias ? params.create(`${name}.bias`, [V], { kind: "zeros" }, false) : null;
  }

  saves(): SavedSpec[] {
    // dh, computed in forward, is backward's result: moved to workspace and returned there.
    return [{ name: "dh", shape: [this.rows, this.channels], dtype: this.dtype, of: "own" }];
  }

  forward(ctx: StepContext, [h]: readonly Tensor[]): Tensor {
    const R = this.rows, C = this.channels, V = this.weight.shape[0];
    const a = ctx.alloc, enc = ctx.enc, b = this.batch();
    const W = this.weight;
    const chunk = logitsChunkRows(R, V);
    const dh = ctx.training ? a.alloc([R, C], this.dtype, "activation", `${this.name}.dh`) : null;
    const losses = a.alloc([R], "f32", "workspace", `${this.name}.losses`); // [R]
    const logits = a.alloc([chunk, V], "f32", "workspace", `${this.name}.logits`); // [chunk,V]
    const targets = this.which === "lm" ? b.targets : need(b.nspLabels, this.name, "nspLabels");
    const count = this.which === "lm" ? b.targetCount : R;
    const scale = ctx.lossScale / Math.max(1, count);
    for (let r0 = 0; r0 < R; r0 += chunk) {
      const r = Math.min(chunk, R - r0);
      const lg = r === chunk ? logits : view(logits, 0, [r, V]);
      const hc = view(h, r0 * C, [r, C]);
      matmul(enc, lg, hc, W.value, r, V, C, { transB: true });
      if (this.bias) addBias(enc, { y: lg, bias: this.bias.value, rows: r, n: V });
      const rows = { losses: view(losses, r0, [r]), targets: view(targets, r0, [r]) };
      crossEntropy(enc, { ...rows, logits: lg, N: r, V, gradScale: scale });
      if (dh) { // lg now holds dlogits
        matmul(enc, view(dh, r0 * C, [r, C]), lg, W.value, r, C, V);
        matmul(enc, W.grad, lg, hc, V, C, r, { transA: true, beta: 1 });
        if (this.bias) sumRows(enc, { out: this.bias.grad, x: lg, rows: r, n: V, beta: 1 });
      }
    }
    meanLoss(enc, this.lossOut, losses, targets, R);
    a.release(logits);
    a.release(losses);
    this.#dh = dh;
    return a.retain(this.lossOut);
  }

  backward(ctx: StepContext): (Tensor | null)[] {
    const dh = need(this.#dh, this.name, "dh");
    ctx.alloc.recategorize(dh, "workspace");
    this.#dh = null;
    return [dh];
  }
}

/**
 * AdamW, PyTorch semantics (torch.optim.AdamW, amsgrad=False, maximize=False). Per element, with
 * g = grad * gradScale[k] (e.g. the clip factor of `globalGradNorm`, read on the GPU):
 *   1. param = param * (1 - lr * weightDecay)               (decoupled weight decay, first)
 *   2. m = m + (1 - beta1) * (g - m)                         (torch: exp_avg.lerp_(grad, 1-beta1))
 *   3. v = v * beta2 + (1 - beta2) * g * g
 *   4. denom = sqrt(v) / sqrt(1 - beta2^step) + eps
 *   5. param = param - (lr / (1 - beta1^step)) * m / denom
 * The bias corrections and the step size are computed on the host in f64 (step is 1-based).
 * With a `skip` flag whose word 0 is nonzero (read on the GPU) the step writes nothing at all.
 * Every tensor is f32 by design, whatever the training precision: the master weights, their
 * gradients and both moments (mixed precision keeps them in f32, as PyTorch's AMP and llm.c do);
 * other dtypes are refused by name (`needF32`).
 * @module
 */
import type { Encoder, TensorRange } from "../encoder.ts";
import { groups1d, type KernelSpec } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";
import { needF32 } from "./checks.ts";
import { type ChunkOptions, chunksOf, elementRange } from "./chunking.ts";
import { rowType } from "./rows.ts";

/** Hyperparameters of one AdamW step. */
export interface AdamWParams {
  /** Learning rate. */
  lr: number;
  /** First-moment decay (0.9). */
  beta1: number;
  /** Second-moment decay (0.999). */
  beta2: number;
  /** Added to the bias-corrected sqrt(v) (1e-8). */
  eps: number;
  /** Decoupled weight decay (0 for biases and LayerNorm parameters, by the caller's choice). */
  weightDecay: number;
  /** Step number, 1-based, for the bias corrections. */
  step: number;
  /**
   * A u32 flag read on the GPU: when its word 0 is nonzero, param, m and v keep their values (no
   * decay, no moment update), e.g. because a guard distrusts this step's gradients.
   */
  skip?: Tensor;
}

const WG = 256;

function adamwSpec(vec4: boolean, skip: boolean): KernelSpec {
  const { T, suffix } = rowType(vec4);
  return {
    name: `adamw_${suffix}${skip ? "_skip" : ""}`,
    bindings: [
      { name: "param", type: T, write: true },
      { name: "grad", type: T },
      { name: "m", type: T, write: true },
      { name: "v", type: T, write: true },
      { name: "gscale", type: "f32" },
      ...(skip ? [{ name: "skip", type: "u32" } as const] : []),
    ],
    uniforms: [
      ["n", "u32"], // elements of type T in this dispatch
      ["base", "u32"], // in elements of type T
      ["scaleIndex", "u32"],
      ["decay", "f32"], // 1 - lr * weightDecay
      ["omb1", "f32"], // 1 - beta1
      ["beta2", "f32"],
      ["omb2", "f32"], // 1 - beta2
      ["stepSize", "f32"], // lr / (1 - beta1^step)
      ["bc2Sqrt", "f32"], // sqrt(1 - beta2^step)
      ["eps", "f32"],
    ],
    workgroupSize: [WG],
    body: `${
      skip ? "if (skip[0] != 0u) { return; }\n  " : ""
    }let g0 = (wid.x + wid.y * nwg.x) * ${PER_THREAD}u;
  let sc = gscale[u.scaleIndex];
  for (var r = 0u; r < ${PER_THREAD}u; r++) {
    let j = (g0 + r) * WG_X + lidx;
    if (j >= u.n) { return; }
    let k = u.base + j;
    let g = grad[k] * sc;
    let p = param[k] * u.decay;
    let m0 = m[k];
    let mm = m0 + u.omb1 * (g - m0);
    let vv = v[k] * u.beta2 + u.omb2 * g * g;
    m[k] = mm;
    v[k] = vv;
    let denom = sqrt(vv) / u.bc2Sqrt + u.eps;
    param[k] = p - u.stepSize * (mm / denom);
  }`,
  };
}

/** Elements of type T per invocation (amortises per-invocation cost on the software adapter). */
const PER_THREAD = 4;
/** Specs by [skip][vec4]. */
const ADAMW = [[adamwSpec(false, false), adamwSpec(true, false)], [
  adamwSpec(false, true),
  adamwSpec(true, true),
]];

/** The tensors of one AdamW update: all [n] f32 but `gradScale`. */
export interface AdamWArgs extends ChunkOptions {
  /** Parameters, updated. */
  param: Tensor;
  /** Their gradient. */
  grad: Tensor;
  /** First moment, updated (zero before step 1). */
  m: Tensor;
  /** Second moment, updated (zero before step 1). */
  v: Tensor;
  /** Elements. */
  n: number;
  /** [k] f32 gradient multipliers (e.g. globalGradNorm's [norm, clip factor]). */
  gradScale: Tensor;
  /** Which element of gradScale multiplies the gradient (default the last). */
  gradScaleIndex?: number;
}

/**
 * One AdamW step over n elements (see the module doc for the exact order of operations).
 * The gradient is multiplied by gradScale[gradScaleIndex] on the GPU, so clipping needs no host
 * sync: by default the LAST element is read, so both a [1] scale and the [2] output of
 * `globalGradNorm` (norm, clip factor) can be passed directly. Chunks over elements when the
 * tensors exceed one binding.
 */
export function adamw(enc: Encoder, a: AdamWArgs, hp: AdamWParams): void {
  const { param, grad, m, v, n, gradScale } = a;
  const gradScaleIndex = a.gradScaleIndex ?? gradScale.size - 1;
  const op = "adamw";
  for (const [name, t] of [["param", param], ["grad", grad], ["m", m], ["v", v]] as const) {
    needF32(op, name, t, n);
  }
  needF32(op, "gradScale", gradScale, gradScaleIndex + 1);
  if (!Number.isInteger(hp.step) || hp.step < 1) throw new Error(`${op}: step must be >= 1`);
  if (gradScaleIndex < 0) throw new Error(`${op}: bad gradScaleIndex ${gradScaleIndex}`);
  const skip = hp.skip;
  if (skip && (skip.dtype !== "u32" || skip.size < 1)) {
    throw new Error(`${op}: skip must be a u32 tensor of at least 1 word, got ${skip}`);
  }
  const gpu = enc.gpu;
  if (!gpu || n === 0) return;
  const uniforms = {
    n: 0,
    base: 0,
    scaleIndex: gradScaleIndex,
    decay: 1 - hp.lr * hp.weightDecay,
    omb1: 1 - hp.beta1,
    beta2: hp.beta2,
    omb2: 1 - hp.beta2,
    stepSize: hp.lr / (1 - hp.beta1 ** hp.step),
    bc2Sqrt: Math.sqrt(1 - hp.beta2 ** hp.step),
    eps: hp.eps,
  };
  // vec4 over the first 4*floor(n/4) elements, chunked; then the 0..3 tail elements as f32.
  // The four tensors have the same layout, so one chunking (of param) applies to all of them.
  const n4 = Math.floor(n / 4);
  const bindAll = (range: TensorRange) => {
    const b = (t: Tensor) => ({ ...range, tensor: t });
    const all = { param: b(param), grad: b(grad), m: b(m), v: b(v), gscale: gradScale };
    return skip ? { ...all, skip } : all;
  };
  const specs = ADAMW[skip ? 1 : 0];
  if (n4 > 0) {
    for (const ch of chunksOf(gpu, param, 4 * n4, 4, a.maxBindingBytes)) {
      enc.dispatch(
        specs[1],
        bindAll(ch.range),
        { ...uniforms, n: ch.count, base: ch.base / 4 },
        groups1d(ch.count, WG * PER_THREAD),
      );
    }
  }
  if (n > 4 * n4) {
    const tail = elementRange(gpu, param, 4 * n4, n - 4 * n4);
    enc.dispatch(
      specs[0],
      bindAll(tail.range),
      { ...uniforms, n: n - 4 * n4, base: tail.base },
      [1, 1, 1],
    );
  }
}

/**
 * AdamW, PyTorch semantics (torch.optim.AdamW, amsgrad=False, maximize=False). Per element, with
 * g = grad * gradScale[k] (e.g. the clip factor of `globalGradNorm`, read on the GPU):
 *   1. param = param * (1 - lr * weightDecay)               (decoupled weight decay, first)
 *   2. m = m + (1 - beta1) * (g - m)                         (torch: exp_avg.lerp_(grad, 1-beta1))
 *   3. v = v * beta2 + (1 - beta2) * g * g
 *   4. denom = sqrt(v) / sqrt(1 - beta2^step) + eps
 *   5. param = param - (lr / (1 - beta1^step)) * m / denom
 * The bias corrections and the step size are computed on the host in f64 (step is 1-based).
 * @module
 */
import type { Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";
import { chunksOf, needF32 } from "./rows.ts";

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
}

const WG = 256;

const ADAMW: KernelSpec = {
  name: "adamw",
  bindings: [
    { name: "param", type: "f32", write: true },
    { name: "grad", type: "f32" },
    { name: "m", type: "f32", write: true },
    { name: "v", type: "f32", write: true },
    { name: "gscale", type: "f32" },
  ],
  uniforms: [
    ["n", "u32"],
    ["base", "u32"],
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
  body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  let k = u.base + i;
  let g = grad[k] * gscale[u.scaleIndex];
  let p = param[k] * u.decay;
  let mm = m[k] + u.omb1 * (g - m[k]);
  let vv = v[k] * u.beta2 + u.omb2 * g * g;
  m[k] = mm;
  v[k] = vv;
  let denom = sqrt(vv) / u.bc2Sqrt + u.eps;
  param[k] = p - u.stepSize * (mm / denom);`,
};

/**
 * One AdamW step over n elements (see the module doc for the exact order of operations).
 * The gradient is multiplied by gradScale[gradScaleIndex] on the GPU, so clipping needs no host
 * sync: by default the LAST element is read, so both a [1] scale and the [2] output of
 * `globalGradNorm` (norm, clip factor) can be passed directly. Chunks over elements when the
 * tensors exceed one binding.
 * @param param [n] f32, updated
 * @param grad [n] f32
 * @param m [n] f32 first moment, updated (zero before step 1)
 * @param v [n] f32 second moment, updated (zero before step 1)
 * @param gradScale [k] f32 gradient multipliers; element gradScaleIndex is used
 * @param maxBindingBytes override of the binding limit, to force chunking in tests
 * @param gradScaleIndex which element of gradScale to use (default gradScale.size - 1)
 */
export function adamw(
  enc: Encoder,
  param: Tensor,
  grad: Tensor,
  m: Tensor,
  v: Tensor,
  n: number,
  hp: AdamWParams,
  gradScale: Tensor,
  maxBindingBytes?: number,
  gradScaleIndex = gradScale.size - 1,
): void {
  const op = "adamw";
  for (const [name, t] of [["param", param], ["grad", grad], ["m", m], ["v", v]] as const) {
    needF32(op, name, t, n);
  }
  needF32(op, "gradScale", gradScale, gradScaleIndex + 1);
  if (!Number.isInteger(hp.step) || hp.step < 1) throw new Error(`${op}: step must be >= 1`);
  if (gradScaleIndex < 0) throw new Error(`${op}: bad gradScaleIndex ${gradScaleIndex}`);
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
  // The four tensors have the same layout, so one chunking (of param) applies to all of them.
  for (const ch of chunksOf(gpu, param, n, 1, maxBindingBytes)) {
    const bind = (t: Tensor) => ({ ...ch.range, tensor: t });
    enc.dispatch(
      ADAMW,
      { param: bind(param), grad: bind(grad), m: bind(m), v: bind(v), gscale: gradScale },
      { ...uniforms, n: ch.count, base: ch.base },
      groups1d(ch.count, WG),
    );
  }
}

/**
 * Plain TypeScript reference of AdamW (f64), PyTorch's order of operations.
 * @module
 */
import type { AdamWParams } from "./adamw.ts";

/** One AdamW step in place on f64 arrays; g = grad * gradScale. */
export function adamwRef(
  param: Float64Array,
  grad: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  hp: AdamWParams,
  gradScale: number,
): void {
  const bc1 = 1 - hp.beta1 ** hp.step, bc2 = 1 - hp.beta2 ** hp.step;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] * gradScale;
    param[i] *= 1 - hp.lr * hp.weightDecay;
    m[i] = hp.beta1 * m[i] + (1 - hp.beta1) * g;
    v[i] = hp.beta2 * v[i] + (1 - hp.beta2) * g * g;
    const denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + hp.eps;
    param[i] -= (hp.lr / bc1) * m[i] / denom;
  }
}

/**
 * Plain f64 reference of `cachedAttention` (core/ops/cached_attention.ts), written as the
 * textbook softmax (max, exponentials, sum), not the kernel's online form.
 * @module
 */

/** Shape and switches of the reference. */
export interface CachedAttentionRefShape {
  /** Batch. */
  B: number;
  /** New positions (queries). */
  n: number;
  /** Heads. */
  NH: number;
  /** Head size. */
  HS: number;
  /** Cache positions. */
  Tmax: number;
  /** Position of the first query. */
  start: number;
  /** Query t sees keys 0 .. start + t; otherwise keys 0 .. start + n - 1. */
  causal: boolean;
}

/** out [B, n, C] from qkv [B, n, 3C] (its Q third) and the caches k, v [B, NH, Tmax, HS]. */
export function cachedAttentionRef(
  qkv: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  s: CachedAttentionRefShape,
): Float64Array {
  const { B, n, NH, HS, Tmax, start, causal } = s, C = NH * HS;
  const scale = 1 / Math.sqrt(HS);
  const out = new Float64Array(B * n * C);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < n; t++) {
        const keys = causal ? start + t + 1 : start + n;
        const q = (b * n + t) * 3 * C + h * HS;
        const scores = new Float64Array(keys);
        for (let j = 0; j < keys; j++) {
          const kb = ((b * NH + h) * Tmax + j) * HS;
          let dot = 0;
          for (let d = 0; d < HS; d++) dot += qkv[q + d] * k[kb + d];
          scores[j] = scale * dot;
        }
        const mx = Math.max(...scores);
        let sum = 0;
        for (let j = 0; j < keys; j++) sum += scores[j] = Math.exp(scores[j] - mx);
        for (let j = 0; j < keys; j++) {
          const vb = ((b * NH + h) * Tmax + j) * HS, p = scores[j] / sum;
          for (let d = 0; d < HS; d++) out[(b * n + t) * C + h * HS + d] += p * v[vb + d];
        }
      }
    }
  }
  return out;
}

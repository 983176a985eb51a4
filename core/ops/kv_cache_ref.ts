/**
 * Plain TypeScript reference of `kvAppend` (core/ops/kv_cache.ts).
 * @module
 */

/** Shape of a cache append. */
export interface KvAppendRefShape {
  /** Batch. */
  B: number;
  /** New positions. */
  n: number;
  /** Heads. */
  NH: number;
  /** Head size. */
  HS: number;
  /** Cache positions. */
  Tmax: number;
  /** First position written. */
  start: number;
}

/**
 * The caches after the append: copies of `k` and `v` ([B, NH, Tmax, HS]) with rows
 * start .. start + n - 1 of each head taken from the K and V thirds of qkv [B, n, 3C].
 */
export function kvAppendRef(
  qkv: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  s: KvAppendRefShape,
): { k: Float64Array; v: Float64Array } {
  const { B, n, NH, HS, Tmax, start } = s, C = NH * HS;
  const ko = Float64Array.from(k), vo = Float64Array.from(v);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < n; t++) {
      for (let h = 0; h < NH; h++) {
        for (let d = 0; d < HS; d++) {
          const src = (b * n + t) * 3 * C + h * HS + d;
          const dst = ((b * NH + h) * Tmax + start + t) * HS + d;
          ko[dst] = qkv[src + C];
          vo[dst] = qkv[src + 2 * C];
        }
      }
    }
  }
  return { k: ko, v: vo };
}

/**
 * Plain TypeScript reference of the global gradient norm and clip factor (f64).
 * @module
 */

/** [L2 norm over all arrays, clip factor min(1, maxNorm / (norm + 1e-6)) or 1 if no clipping]. */
export function globalGradNormRef(
  grads: readonly ArrayLike<number>[],
  maxNorm: number,
): [number, number] {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  const norm = Math.sqrt(s);
  const clip = Number.isFinite(maxNorm) && maxNorm > 0;
  return [norm, clip ? Math.min(1, maxNorm / (norm + 1e-6)) : 1];
}

/**
 * Plain TypeScript references of the elementwise ops (f64).
 * @module
 */

/** a + b. */
export function addRef(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

/** alpha * x + beta * prev. */
export function scaleAccRef(
  x: ArrayLike<number>,
  prev: ArrayLike<number>,
  alpha: number,
  beta: number,
): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = alpha * x[i] + (beta === 0 ? 0 : beta * prev[i]);
  return out;
}

/**
 * Plain TypeScript references of the bias ops (f64).
 * @module
 */

/** y[r, c] + bias[c] for a [rows, n] y. */
export function addBiasRef(
  y: ArrayLike<number>,
  bias: ArrayLike<number>,
  rows: number,
  n: number,
): Float64Array {
  const out = Float64Array.from(y);
  for (let r = 0; r < rows; r++) for (let c = 0; c < n; c++) out[r * n + c] += bias[c];
  return out;
}

/** Column sums of a [rows, n] x, plus prev when beta is 1 (beta 0 ignores prev, even NaN). */
export function sumRowsRef(
  x: ArrayLike<number>,
  rows: number,
  n: number,
  prev: ArrayLike<number>,
  beta: number,
): Float64Array {
  const out = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    let s = 0;
    for (let r = 0; r < rows; r++) s += x[r * n + c];
    out[c] = s + (beta === 0 ? 0 : prev[c]);
  }
  return out;
}

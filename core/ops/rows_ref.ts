/**
 * Plain TypeScript references of the row gather / scatter-add (f64).
 * @module
 */

/** out[m, :] = x[positions[m], :]; positions outside [0, N) give a zero row. x is [N, C]. */
export function gatherRowsRef(
  x: ArrayLike<number>,
  positions: ArrayLike<number>,
  C: number,
): Float64Array {
  const N = x.length / C, M = positions.length;
  const out = new Float64Array(M * C);
  for (let m = 0; m < M; m++) {
    const p = positions[m];
    if (p < 0 || p >= N) continue;
    for (let c = 0; c < C; c++) out[m * C + c] = x[p * C + c];
  }
  return out;
}

/** dx[positions[m], :] += dout[m, :] (a copy of dx is returned); out-of-range positions skipped. */
export function scatterRowsAddRef(
  dx: ArrayLike<number>,
  dout: ArrayLike<number>,
  positions: ArrayLike<number>,
  C: number,
): Float64Array {
  const out = Float64Array.from(dx);
  const N = dx.length / C;
  for (let m = 0; m < positions.length; m++) {
    const p = positions[m];
    if (p < 0 || p >= N) continue;
    for (let c = 0; c < C; c++) out[p * C + c] += dout[m * C + c];
  }
  return out;
}

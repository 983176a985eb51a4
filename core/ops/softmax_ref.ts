/**
 * Plain references of the attention softmax and its backward (f64).
 * @module
 */

/** Masking options, as in `softmaxForward`. */
export interface SoftmaxRefOptions {
  /** Multiplies S. */
  scale: number;
  /** Mask key j > row % T. */
  causal?: boolean;
  /** Query positions per block (default cols). */
  T?: number;
  /** [B, cols]: 0 = pad key. */
  padMask?: ArrayLike<number> | null;
  /** Rows per batch element. */
  rowsPerBatch?: number;
}

/** P = softmax(scale * S) per row with masked entries at probability 0; empty rows are zeros. */
export function softmaxRef(
  S: ArrayLike<number>,
  rows: number,
  cols: number,
  o: SoftmaxRefOptions,
): Float64Array {
  const P = new Float64Array(rows * cols), T = o.T ?? cols;
  for (let r = 0; r < rows; r++) {
    const q = r % T, b = o.padMask ? Math.floor(r / o.rowsPerBatch!) : 0;
    const live = (j: number) =>
      !(o.causal && j > q) && !(o.padMask && o.padMask[b * cols + j] === 0);
    let mx = -Infinity;
    for (let j = 0; j < cols; j++) if (live(j)) mx = Math.max(mx, o.scale * S[r * cols + j]);
    if (mx === -Infinity) continue;
    let sum = 0;
    for (let j = 0; j < cols; j++) if (live(j)) sum += Math.exp(o.scale * S[r * cols + j] - mx);
    for (let j = 0; j < cols; j++) {
      P[r * cols + j] = live(j) ? Math.exp(o.scale * S[r * cols + j] - mx) / sum : 0;
    }
  }
  return P;
}

/** dS = scale * P * (dP - rowsum(dP * P)). */
export function softmaxBackwardRef(
  dP: ArrayLike<number>,
  P: ArrayLike<number>,
  rows: number,
  cols: number,
  scale: number,
): Float64Array {
  const dS = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dP[r * cols + j] * P[r * cols + j];
    for (let j = 0; j < cols; j++) {
      const i = r * cols + j;
      dS[i] = scale * P[i] * (dP[i] - dot);
    }
  }
  return dS;
}

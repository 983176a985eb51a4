/**
 * Plain TypeScript references of the embedding lookup and its backward (f64).
 * @module
 */

/** out[n, :] = table[ids[n], :] (+ prev when given); ids outside [0, V) add nothing. */
export function embeddingForwardRef(
  table: ArrayLike<number>,
  ids: ArrayLike<number>,
  C: number,
  prev?: ArrayLike<number>,
): Float64Array {
  const V = table.length / C;
  const out = prev ? Float64Array.from(prev) : new Float64Array(ids.length * C);
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (id < 0 || id >= V) continue;
    for (let c = 0; c < C; c++) out[n * C + c] += table[id * C + c];
  }
  return out;
}

/** dtable + the sum over n of dout[n, :] into row ids[n] (ids outside [0, V) skipped). */
export function embeddingBackwardRef(
  dtable: ArrayLike<number>,
  dout: ArrayLike<number>,
  ids: ArrayLike<number>,
  C: number,
): Float64Array {
  const out = Float64Array.from(dtable);
  const V = dtable.length / C;
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (id < 0 || id >= V) continue;
    for (let c = 0; c < C; c++) out[id * C + c] += dout[n * C + c];
  }
  return out;
}

/**
 * Plain TypeScript reference of `argmaxRows` (core/ops/argmax.ts).
 * @module
 */

/** The first index of each row's largest value (NaN never wins; a row without a number: 0). */
export function argmaxRowsRef(x: ArrayLike<number>, rows: number, V: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0, bv = -Infinity, found = false;
    for (let c = 0; c < V; c++) {
      const v = x[r * V + c];
      if (v > bv || (!found && v === bv && v > -Infinity)) {
        best = c;
        bv = v;
        found = true;
      }
    }
    out[r] = best;
  }
  return out;
}

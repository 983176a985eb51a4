/**
 * f64 references of tanh and its backward from the output.
 * @module
 */

/** tanh elementwise. */
export function tanhRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, Math.tanh);
}

/** dy * (1 - y^2). */
export function tanhBackwardRef(dy: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  return Float64Array.from(dy, (d, i) => d * (1 - y[i] * y[i]));
}

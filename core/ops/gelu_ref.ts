/**
 * Plain references of GELU (f64): an accurate erf/erfc (series and continued fraction, ~1e-15),
 * both forms' values and exact derivatives.
 * @module
 */

/** GELU variant. */
export type GeluFormRef = "erf" | "tanh";

const SQRT_PI = Math.sqrt(Math.PI);
const K_TANH = Math.sqrt(2 / Math.PI);

/** erf(x): the all-positive series 2/sqrt(pi) e^-x^2 sum 2^n x^(2n+1) / (2n+1)!!, |x| < 3. */
function erfSeries(x: number): number {
  let term = x, sum = x;
  for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (2 * x * x) / (2 * n + 1);
    sum += term;
  }
  return (2 / SQRT_PI) * Math.exp(-x * x) * sum;
}

/** erfc(x) for x >= 2: the continued fraction e^-x^2/sqrt(pi) / (x + 1/2/(x + 1/(x + 3/2/...))). */
function erfcFraction(x: number): number {
  let f = x;
  for (let k = 400; k >= 1; k--) f = x + (k / 2) / f;
  return Math.exp(-x * x) / (SQRT_PI * f);
}

/** erfc(x), relative accuracy ~1e-14 also in the right tail. */
export function erfcRef(x: number): number {
  if (x >= 2) return erfcFraction(x);
  if (x <= -2) return 2 - erfcFraction(-x);
  return 1 - erfSeries(x);
}

/** erf(x). */
export function erfRef(x: number): number {
  return Math.abs(x) < 3 ? erfSeries(x) : Math.sign(x) * (1 - erfcFraction(Math.abs(x)));
}

/** Standard normal CDF, relative accuracy kept in the left tail. */
export function normalCdfRef(x: number): number {
  return 0.5 * erfcRef(-x / Math.SQRT2);
}

/** Standard normal density. */
export function normalPdfRef(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

/** gelu(x) of the form. */
export function geluRef(x: number, form: GeluFormRef): number {
  if (form === "erf") return x * normalCdfRef(x);
  const a = K_TANH * (x + 0.044715 * x * x * x);
  return x / (1 + Math.exp(-2 * a));
}

/** gelu'(x), the exact derivative of the form. */
export function geluGradRef(x: number, form: GeluFormRef): number {
  if (form === "erf") return normalCdfRef(x) + x * normalPdfRef(x);
  const a = K_TANH * (x + 0.044715 * x * x * x);
  const s = 1 / (1 + Math.exp(-2 * a)), sm = 1 / (1 + Math.exp(2 * a));
  return s + 2 * x * s * sm * K_TANH * (1 + 3 * 0.044715 * x * x);
}

/** Elementwise forward. */
export function geluForwardRef(x: ArrayLike<number>, form: GeluFormRef): Float64Array {
  return Float64Array.from(x, (v) => geluRef(v, form));
}

/** Elementwise backward: dy * gelu'(x). */
export function geluBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  form: GeluFormRef,
): Float64Array {
  return Float64Array.from(x, (v, i) => dy[i] * geluGradRef(v, form));
}

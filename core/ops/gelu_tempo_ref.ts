/**
 * Plain reference of the Tempo GELU (f64): the branch mask and the inversion of `gelu_tempo.ts`,
 * step for step (polynomial window near x_min, Newton on the right branch, Newton on
 * ln(-gelu) on the left branch), with the exact f64 functions of `gelu_ref.ts`; and the exact
 * inverse of a branch by bisection (`geluInverseExactRef`), what the error floor of a rounded
 * output is measured against.
 * @module
 */
import type { GeluForm } from "./gelu.ts";
import { geluGradRef, geluRef } from "./gelu_ref.ts";
import {
  GELU_PARABOLA,
  GELU_TEMPO_POLY,
  GELU_TEMPO_POLY_Y,
  GELU_TEMPO_STEPS,
  type GeluTempoSteps,
} from "./gelu_tempo.ts";

/** Branch mask m = [x >= c], c = f32(x_min) of the form. */
export function geluTempoMaskRef(x: ArrayLike<number>, form: GeluForm): Uint8Array {
  const c = GELU_TEMPO_POLY[form].c;
  return Uint8Array.from(x, (v) => (v >= c ? 1 : 0));
}

/** The Taylor polynomial q(d) = gelu(c + d) - y0 and its derivative. */
export function geluTempoPolyRef(d: number, form: GeluForm): [number, number] {
  const a = GELU_TEMPO_POLY[form].a;
  let q = 0, dq = 0;
  for (let k = a.length - 1; k >= 0; k--) {
    q = q * d + a[k];
    dq = dq * d + (k + 1) * a[k];
  }
  return [q * d, dq];
}

/** x with gelu(x) = y on the branch x >= c (right) or x <= c, and gelu'(x). */
export function geluInverseRef(
  y: number,
  right: boolean,
  form: GeluForm,
  steps: GeluTempoSteps = GELU_TEMPO_STEPS[form],
): [number, number] {
  const { c, y0 } = GELU_TEMPO_POLY[form];
  const r = y - y0;
  if (r < GELU_TEMPO_POLY_Y) {
    const rr = Math.max(r, 0);
    let d = (right ? 1 : -1) * Math.sqrt(rr / GELU_TEMPO_POLY[form].a[1]);
    for (let k = 0; k < 3; k++) {
      const [q, dq] = geluTempoPolyRef(d, form);
      if (Math.abs(dq) > 1e-30) d -= (q - rr) / dq;
      d = right ? Math.max(d, 0) : Math.min(d, 0);
    }
    return [c + d, geluTempoPolyRef(d, form)[1]];
  }
  let x: number;
  if (right) {
    x = y > 1 ? y : c + Math.sqrt(r / GELU_PARABOLA);
    for (let k = 0; k < steps.right; k++) {
      const g = geluGradRef(x, form);
      if (Math.abs(g) > 1e-30) x -= (geluRef(x, form) - y) / g;
      x = Math.max(x, c);
    }
  } else {
    const l = Math.log(Math.max(-y, 1e-30));
    x = form === "erf"
      ? -Math.sqrt(Math.max(-2 * (l + 0.5 * Math.log(2 * Math.PI)), 0))
      : -Math.cbrt(Math.max(-l - 1, 1e-6) / (2 * Math.sqrt(2 / Math.PI) * 0.044715));
    if (y <= -0.115) x = Math.max(x, c - Math.sqrt(r / 0.13));
    x = Math.min(x, c);
    for (let k = 0; k < steps.left; k++) {
      const g = geluRef(x, form), dg = geluGradRef(x, form);
      if (g < 0 && dg / g > 1e-30) x -= (Math.log(-g) - l) / (dg / g);
      x = Math.min(x, c);
    }
  }
  return [x, geluGradRef(x, form)];
}

/** Tempo backward: dx = dy * gelu'(x), x recovered from (y, mask). */
export function geluTempoBackwardRef(
  dy: ArrayLike<number>,
  y: ArrayLike<number>,
  mask: ArrayLike<number>,
  form: GeluForm,
  steps: GeluTempoSteps = GELU_TEMPO_STEPS[form],
): Float64Array {
  return Float64Array.from(y, (v, i) => dy[i] * geluInverseRef(v, mask[i] !== 0, form, steps)[1]);
}

/** The minimum x_min of gelu in f64: bisection on the sign of gelu'. */
export function geluMinimumRef(form: GeluForm): number {
  let a = -1, b = -0.5;
  for (let k = 0; k < 200; k++) {
    const m = (a + b) / 2;
    if (geluGradRef(m, form) < 0) a = m;
    else b = m;
  }
  return (a + b) / 2;
}

const MINIMUM: Partial<Record<GeluForm, number>> = {};

/**
 * The exact inverse of gelu on a branch, [x, gelu'(x)], in f64 by bisection: x >= x_min with
 * gelu(x) = y (right), else x <= x_min. A y below y_min has no preimage: x_min (gelu' = 0 there);
 * y >= 0 on the left branch is the limit x -> -inf (gelu' -> 0). No Newton, no starting point:
 * what an exact inversion of a stored y gives, the error floor of any inversion of that y.
 */
export function geluInverseExactRef(y: number, right: boolean, form: GeluForm): [number, number] {
  const xm = MINIMUM[form] ??= geluMinimumRef(form);
  if (!(y > geluRef(xm, form))) return [xm, 0];
  if (!right && y >= 0) return [-Infinity, 0];
  // [a, b] brackets the root: gelu rises from a to b on the right, falls on the left.
  let a = xm, b = xm;
  if (right) b = Math.max(2 * y + 2, 0);
  else {
    a = -1;
    while (geluRef(a, form) <= y) a *= 2;
  }
  for (let k = 0; k < 2000; k++) {
    const m = (a + b) / 2;
    if (m === a || m === b) break;
    if ((geluRef(m, form) < y) === right) a = m;
    else b = m;
  }
  const x = (a + b) / 2;
  return [x, geluGradRef(x, form)];
}

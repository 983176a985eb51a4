/**
 * Plain references of the Tempo LayerNorm backward (from the output y and rstd) and of the
 * near-zero-gamma flag (f64).
 * @module
 */
import { layernormBackwardFromXhat, type LayernormGradRef } from "./layernorm_ref.ts";

/** |gamma| clamp of the Tempo backward: sign(g) * max(|g|, 1e-12), sign(0) = +1. */
export function safeGammaRef(g: number): number {
  return (g < 0 ? -1 : 1) * Math.max(Math.abs(g), 1e-12);
}

/** Tempo backward: xhat = (y - beta) / gamma (clamped as in `safeGammaRef`). */
export function layernormTempoBackwardRef(
  dy: ArrayLike<number>,
  y: ArrayLike<number>,
  rstd: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  R: number,
  C: number,
): LayernormGradRef {
  const xhat = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) xhat[r * C + c] = (y[r * C + c] - beta[c]) / safeGammaRef(gamma[c]);
  }
  return layernormBackwardFromXhat(dy, xhat, rstd, gamma, R, C);
}

/** 1 if any |gamma_c| < threshold (or NaN), else 0. */
export function minAbsGammaFlagRef(gamma: ArrayLike<number>, threshold: number): number {
  for (let c = 0; c < gamma.length; c++) if (!(Math.abs(gamma[c]) >= threshold)) return 1;
  return 0;
}

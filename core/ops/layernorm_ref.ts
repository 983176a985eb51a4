/**
 * Plain references of LayerNorm over rows (f64): forward, and the backward from the input x
 * (baseline); the Tempo backward from the output y is in `layernorm_tempo_ref.ts`.
 * @module
 */

/** Forward result. */
export interface LayernormRef {
  /** [R, C] output. */
  y: Float64Array;
  /** [R] row means. */
  mean: Float64Array;
  /** [R] 1 / sqrt(biased variance + eps). */
  rstd: Float64Array;
}

/** Backward result: dx [R, C], dgamma [C], dbeta [C] (not accumulated). */
export interface LayernormGradRef {
  /** [R, C]. */
  dx: Float64Array;
  /** [C]. */
  dgamma: Float64Array;
  /** [C]. */
  dbeta: Float64Array;
}

/** y = gamma * (x - mean) * rstd + beta per row of C. */
export function layernormRef(
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  R: number,
  C: number,
  eps: number,
): LayernormRef {
  const y = new Float64Array(R * C), mean = new Float64Array(R), rstd = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += x[r * C + c];
    const mu = s / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - mu) ** 2;
    const rs = 1 / Math.sqrt(v / C + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let c = 0; c < C; c++) y[r * C + c] = gamma[c] * (x[r * C + c] - mu) * rs + beta[c];
  }
  return { y, mean, rstd };
}

/** Backward given xhat [R, C] and rstd [R] (shared by both variants). */
export function layernormBackwardFromXhat(
  dy: ArrayLike<number>,
  xhat: ArrayLike<number>,
  rstd: ArrayLike<number>,
  gamma: ArrayLike<number>,
  R: number,
  C: number,
): LayernormGradRef {
  const dx = new Float64Array(R * C), dgamma = new Float64Array(C), dbeta = new Float64Array(C);
  for (let r = 0; r < R; r++) {
    let m1 = 0, m2 = 0;
    for (let c = 0; c < C; c++) {
      const g = dy[r * C + c] * gamma[c];
      m1 += g;
      m2 += g * xhat[r * C + c];
    }
    m1 /= C;
    m2 /= C;
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      dx[i] = rstd[r] * (dy[i] * gamma[c] - m1 - xhat[i] * m2);
      dgamma[c] += dy[i] * xhat[i];
      dbeta[c] += dy[i];
    }
  }
  return { dx, dgamma, dbeta };
}

/** Baseline backward: xhat = (x - mean) * rstd. */
export function layernormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  rstd: ArrayLike<number>,
  gamma: ArrayLike<number>,
  R: number,
  C: number,
): LayernormGradRef {
  const xhat = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) xhat[r * C + c] = (x[r * C + c] - mean[r]) * rstd[r];
  }
  return layernormBackwardFromXhat(dy, xhat, rstd, gamma, R, C);
}

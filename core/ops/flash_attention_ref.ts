/**
 * Plain f64 reference of fused attention (`flash_attention.ts`), computed the direct way (whole
 * score rows, no blocking), so that the kernels' online softmax and recomputation are checked
 * against the formulas themselves:
 *   qkv [B, T, 3C] (columns [Q | K | V], each NH*HS head-major, C = NH*HS)
 *   S = Q K^T / sqrt(HS) per head, masked keys excluded (causal: key j > query i; pad: pad[b, j] = 0)
 *   P = softmax(S) per row, lse = log(sum_j exp(S_j)) per row (-Infinity where every key is masked)
 *   P~ = keep * P / (1 - p), keep over the flat [B, NH, T, T] index (the unfused layer's)
 *   out[b, t, h*HS + d] = (P~ V)[b, h, t, d]
 * Backward: dV = P~^T dO, dP = keep * (dO V^T) / (1 - p), dS = P * (dP - rowsum(dP * P)) / sqrt(HS),
 * dQ = dS K, dK = dS^T Q, packed into dqkv [B, T, 3C].
 * @module
 */

/** Shape, masks and dropout of the reference. */
export interface FlashRefConfig {
  /** Batch. */
  B: number;
  /** Sequence length. */
  T: number;
  /** Heads. */
  NH: number;
  /** Head size. */
  HS: number;
  /** Mask keys after the query position. */
  causal: boolean;
  /** [B*T] 1 real / 0 pad (masks pad keys), or null. */
  pad: ArrayLike<number> | null;
  /** Keep decisions over the flat [B, NH, T, T] index (1 = kept), or null for no dropout. */
  keep: ArrayLike<number> | null;
  /** Drop probability (used only with `keep`). */
  p: number;
}

/** Forward results. */
export interface FlashRefForward {
  /** [B, T, C]. */
  out: Float64Array;
  /** [B, NH, T] row log-sum-exp of the scaled, masked scores (-Infinity for empty rows). */
  lse: Float64Array;
  /** Softmax output [B, NH, T, T] (for the backward). */
  P: Float64Array;
}

function isMasked(cfg: FlashRefConfig, b: number, i: number, j: number): boolean {
  return (cfg.causal && j > i) || (cfg.pad !== null && cfg.pad[b * cfg.T + j] === 0);
}

/** Element `d` of head `h`'s part `part` (0 Q, 1 K, 2 V) at token (b, t) of qkv. */
function at(cfg: FlashRefConfig, b: number, t: number, part: number, h: number, d: number) {
  const C = cfg.NH * cfg.HS;
  return ((b * cfg.T + t) * 3 + part) * C + h * cfg.HS + d;
}

/** Fused attention forward (f64). */
export function flashForwardRef(qkv: ArrayLike<number>, cfg: FlashRefConfig): FlashRefForward {
  const { B, T, NH, HS, keep, p } = cfg;
  const C = NH * HS, scale = 1 / Math.sqrt(HS);
  const out = new Float64Array(B * T * C), lse = new Float64Array(B * NH * T);
  const P = new Float64Array(B * NH * T * T);
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const bh = b * NH + h;
      for (let i = 0; i < T; i++) {
        let mx = -Infinity;
        for (let j = 0; j < T; j++) {
          if (isMasked(cfg, b, i, j)) continue;
          let dot = 0;
          for (let d = 0; d < HS; d++) {
            dot += qkv[at(cfg, b, i, 0, h, d)] * qkv[at(cfg, b, j, 1, h, d)];
          }
          s[j] = scale * dot;
          mx = Math.max(mx, s[j]);
        }
        const row = bh * T + i;
        if (mx === -Infinity) {
          lse[row] = -Infinity; // every key masked: P and out are 0
          continue;
        }
        let sum = 0;
        for (let j = 0; j < T; j++) if (!isMasked(cfg, b, i, j)) sum += Math.exp(s[j] - mx);
        lse[row] = mx + Math.log(sum);
        for (let j = 0; j < T; j++) {
          if (isMasked(cfg, b, i, j)) continue;
          const pij = Math.exp(s[j] - mx) / sum;
          P[row * T + j] = pij;
          const pd = keep ? (keep[row * T + j] ? pij / (1 - p) : 0) : pij;
          if (pd === 0) continue;
          for (let d = 0; d < HS; d++) {
            out[(b * T + i) * C + h * HS + d] += pd * qkv[at(cfg, b, j, 2, h, d)];
          }
        }
      }
    }
  }
  return { out, lse, P };
}

/** Fused attention backward (f64): dqkv [B, T, 3C] from dout [B, T, C]. */
export function flashBackwardRef(
  dout: ArrayLike<number>,
  qkv: ArrayLike<number>,
  fwd: FlashRefForward,
  cfg: FlashRefConfig,
): Float64Array {
  const { B, T, NH, HS, keep, p } = cfg;
  const C = NH * HS, scale = 1 / Math.sqrt(HS);
  const dqkv = new Float64Array(B * T * 3 * C);
  const dS = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const row0 = (b * NH + h) * T;
      for (let i = 0; i < T; i++) {
        const e0 = (row0 + i) * T;
        let dot = 0;
        for (let j = 0; j < T; j++) {
          const pij = fwd.P[e0 + j];
          if (pij === 0) {
            dS[j] = 0;
            continue;
          }
          let acc = 0;
          for (let d = 0; d < HS; d++) {
            acc += dout[(b * T + i) * C + h * HS + d] * qkv[at(cfg, b, j, 2, h, d)];
          }
          const f = keep ? (keep[e0 + j] ? 1 / (1 - p) : 0) : 1;
          dS[j] = f * acc; // dP
          dot += dS[j] * pij;
          // dV[j] += P~[i, j] dO[i]
          if (f !== 0) {
            for (let d = 0; d < HS; d++) {
              dqkv[at(cfg, b, j, 2, h, d)] += f * pij * dout[(b * T + i) * C + h * HS + d];
            }
          }
        }
        for (let j = 0; j < T; j++) {
          const pij = fwd.P[e0 + j];
          if (pij === 0) continue;
          const ds = scale * pij * (dS[j] - dot);
          for (let d = 0; d < HS; d++) {
            dqkv[at(cfg, b, i, 0, h, d)] += ds * qkv[at(cfg, b, j, 1, h, d)];
            dqkv[at(cfg, b, j, 1, h, d)] += ds * qkv[at(cfg, b, i, 0, h, d)];
          }
        }
      }
    }
  }
  return dqkv;
}

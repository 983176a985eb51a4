/**
 * Plain f64 reference of the attention core (layers/attention.ts), forward and backward:
 *   qkv [B,T,3C] (layout [Q | K | V], heads contiguous inside each, C = NH*HS)
 *   -> Q,K,V [B,NH,T,HS] -> P = softmax(Q K^T / sqrt(HS) + causal/pad masks) [B,NH,T,T]
 *   -> P~ = dropout(P) (keep decisions from `dropoutMaskRef` over the flat [B,NH,T,T] index)
 *   -> ctx = P~ V [B,NH,T,HS] -> out [B,T,C].
 * Masked keys get probability 0; a query row whose keys are all masked gives a zero row.
 * @module
 */
import { dropoutMaskRef } from "../core/ops/dropout_ref.ts";

/** Shape and switches of the reference. */
export interface AttentionRefConfig {
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
  /** Keep decisions over the flat [B,NH,T,T] index (1 = kept), or null for no dropout. */
  keep: Uint8Array | null;
  /** Drop probability (used only with `keep`). */
  p: number;
}

/** The keep mask of the attention dropout for (p, seed, stream), or null when p = 0. */
export function attentionKeepRef(
  B: number,
  NH: number,
  T: number,
  p: number,
  seed: number,
  stream: number,
): Uint8Array | null {
  return p > 0 ? dropoutMaskRef(B * NH * T * T, p, seed, stream) : null;
}

/** qkv [B,T,3C] -> Q, K, V each [B,NH,T,HS]. */
export function splitHeadsRef(
  qkv: ArrayLike<number>,
  B: number,
  T: number,
  NH: number,
  HS: number,
): [Float64Array, Float64Array, Float64Array] {
  const C = NH * HS, n = B * NH * T * HS;
  const out: [Float64Array, Float64Array, Float64Array] = [
    new Float64Array(n),
    new Float64Array(n),
    new Float64Array(n),
  ];
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < NH; h++) {
        for (let d = 0; d < HS; d++) {
          const dst = ((b * NH + h) * T + t) * HS + d;
          for (let w = 0; w < 3; w++) out[w][dst] = qkv[(b * T + t) * 3 * C + w * C + h * HS + d];
        }
      }
    }
  }
  return out;
}

/** [B,NH,T,HS] -> [B,T,C] (C = NH*HS). */
export function mergeHeadsRef(
  x: ArrayLike<number>,
  B: number,
  T: number,
  NH: number,
  HS: number,
): Float64Array {
  const C = NH * HS, out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        for (let d = 0; d < HS; d++) {
          out[(b * T + t) * C + h * HS + d] = x[((b * NH + h) * T + t) * HS + d];
        }
      }
    }
  }
  return out;
}

/** [B,T,C] -> [B,NH,T,HS] (the inverse of `mergeHeadsRef`). */
export function splitHeadsOfRef(
  x: ArrayLike<number>,
  B: number,
  T: number,
  NH: number,
  HS: number,
): Float64Array {
  const C = NH * HS, out = new Float64Array(B * NH * T * HS);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        for (let d = 0; d < HS; d++) {
          out[((b * NH + h) * T + t) * HS + d] = x[(b * T + t) * C + h * HS + d];
        }
      }
    }
  }
  return out;
}

/** dQ, dK, dV [B,NH,T,HS] -> dqkv [B,T,3C] (the inverse of `splitHeadsRef`). */
export function joinHeadsRef(
  dq: ArrayLike<number>,
  dk: ArrayLike<number>,
  dv: ArrayLike<number>,
  B: number,
  T: number,
  NH: number,
  HS: number,
): Float64Array {
  const C = NH * HS, out = new Float64Array(B * T * 3 * C);
  const parts = [dq, dk, dv];
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < NH; h++) {
        for (let d = 0; d < HS; d++) {
          const src = ((b * NH + h) * T + t) * HS + d;
          for (let w = 0; w < 3; w++) out[(b * T + t) * 3 * C + w * C + h * HS + d] = parts[w][src];
        }
      }
    }
  }
  return out;
}

/** Forward values the backward needs. */
export interface AttentionRefForward {
  /** [B,T,C]. */
  out: Float64Array;
  /** [B,NH,T,HS] each. */
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  /** Softmax output [B,NH,T,T]. */
  P: Float64Array;
  /** Dropout output [B,NH,T,T] (P itself without dropout). */
  Pd: Float64Array;
}

function masked(cfg: AttentionRefConfig, b: number, i: number, j: number): boolean {
  return (cfg.causal && j > i) || (cfg.pad !== null && cfg.pad[b * cfg.T + j] === 0);
}

/** Attention forward (f64). */
export function attentionForwardRef(
  qkv: ArrayLike<number>,
  cfg: AttentionRefConfig,
): AttentionRefForward {
  const { B, T, NH, HS, keep, p } = cfg;
  const [q, k, v] = splitHeadsRef(qkv, B, T, NH, HS);
  const scale = 1 / Math.sqrt(HS);
  const P = new Float64Array(B * NH * T * T);
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const bh = b * NH + h;
      for (let i = 0; i < T; i++) {
        let mx = -Infinity;
        for (let j = 0; j < T; j++) {
          if (masked(cfg, b, i, j)) continue;
          let dot = 0;
          for (let d = 0; d < HS; d++) dot += q[(bh * T + i) * HS + d] * k[(bh * T + j) * HS + d];
          s[j] = scale * dot;
          mx = Math.max(mx, s[j]);
        }
        if (mx === -Infinity) continue; // every key masked: a zero row
        let sum = 0;
        for (let j = 0; j < T; j++) if (!masked(cfg, b, i, j)) sum += Math.exp(s[j] - mx);
        for (let j = 0; j < T; j++) {
          if (!masked(cfg, b, i, j)) P[(bh * T + i) * T + j] = Math.exp(s[j] - mx) / sum;
        }
      }
    }
  }
  const Pd = keep ? P.map((x, i) => keep[i] ? x / (1 - p) : 0) : P;
  const c = new Float64Array(B * NH * T * HS);
  for (let bh = 0; bh < B * NH; bh++) {
    for (let i = 0; i < T; i++) {
      for (let d = 0; d < HS; d++) {
        let acc = 0;
        for (let j = 0; j < T; j++) acc += Pd[(bh * T + i) * T + j] * v[(bh * T + j) * HS + d];
        c[(bh * T + i) * HS + d] = acc;
      }
    }
  }
  return { out: mergeHeadsRef(c, B, T, NH, HS), q, k, v, P, Pd };
}

/** Attention backward (f64): dqkv [B,T,3C] from dout [B,T,C]. */
export function attentionBackwardRef(
  dout: ArrayLike<number>,
  fwd: AttentionRefForward,
  cfg: AttentionRefConfig,
): Float64Array {
  const { B, T, NH, HS, keep, p } = cfg;
  const { q, k, v, P, Pd } = fwd;
  const scale = 1 / Math.sqrt(HS);
  const dc = splitHeadsOfRef(dout, B, T, NH, HS);
  const n = B * NH * T * HS;
  const dq = new Float64Array(n), dk = new Float64Array(n), dv = new Float64Array(n);
  const dS = new Float64Array(T);
  for (let bh = 0; bh < B * NH; bh++) {
    const hb = bh * T * HS, sb = bh * T * T;
    // dV = P~^T dC
    for (let j = 0; j < T; j++) {
      for (let d = 0; d < HS; d++) {
        let acc = 0;
        for (let i = 0; i < T; i++) acc += Pd[sb + i * T + j] * dc[hb + i * HS + d];
        dv[hb + j * HS + d] = acc;
      }
    }
    for (let i = 0; i < T; i++) {
      // dP = dropout'(dC V^T); dS = scale * P * (dP - rowsum(dP * P)) (scores before the scale)
      let dot = 0;
      for (let j = 0; j < T; j++) {
        let acc = 0;
        for (let d = 0; d < HS; d++) acc += dc[hb + i * HS + d] * v[hb + j * HS + d];
        const e = sb + i * T + j;
        dS[j] = keep ? (keep[e] ? acc / (1 - p) : 0) : acc;
        dot += dS[j] * P[e];
      }
      for (let j = 0; j < T; j++) dS[j] = scale * P[sb + i * T + j] * (dS[j] - dot);
      // dQ[i] = sum_j dS[i,j] K[j]; dK[j] += dS[i,j] Q[i]
      for (let j = 0; j < T; j++) {
        for (let d = 0; d < HS; d++) {
          dq[hb + i * HS + d] += dS[j] * k[hb + j * HS + d];
          dk[hb + j * HS + d] += dS[j] * q[hb + i * HS + d];
        }
      }
    }
  }
  return joinHeadsRef(dq, dk, dv, B, T, NH, HS);
}

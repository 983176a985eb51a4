/**
 * Plain references of the attention head layouts (index permutations, f64).
 * @module
 */

/** Index of [b, t, c] in a token-major [B, T, W] tensor. */
function tokIndex(b: number, t: number, c: number, T: number, W: number): number {
  return (b * T + t) * W + c;
}

/** Index of [b, h, t, d] in a head-major [B, NH, T, HS] tensor. */
function headIndex(b: number, h: number, t: number, d: number, NH: number, T: number, HS: number) {
  return ((b * NH + h) * T + t) * HS + d;
}

/** qkv [B, T, 3C] -> [q, k, v], each [B, NH, T, HS]. */
export function splitHeadsRef(
  qkv: ArrayLike<number>,
  B: number,
  T: number,
  NH: number,
  HS: number,
): Float64Array[] {
  const C = NH * HS;
  const out = [0, 1, 2].map(() => new Float64Array(B * T * C));
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let p = 0; p < 3; p++) {
        for (let h = 0; h < NH; h++) {
          for (let d = 0; d < HS; d++) {
            out[p][headIndex(b, h, t, d, NH, T, HS)] =
              qkv[tokIndex(b, t, p * C + h * HS + d, T, 3 * C)];
          }
        }
      }
    }
  }
  return out;
}

/** [dq, dk, dv] (each [B, NH, T, HS]) -> dqkv [B, T, 3C]. */
export function joinHeadsRef(
  parts: ArrayLike<number>[],
  B: number,
  T: number,
  NH: number,
  HS: number,
): Float64Array {
  const C = NH * HS, out = new Float64Array(B * T * 3 * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let p = 0; p < 3; p++) {
        for (let h = 0; h < NH; h++) {
          for (let d = 0; d < HS; d++) {
            out[tokIndex(b, t, p * C + h * HS + d, T, 3 * C)] =
              parts[p][headIndex(b, h, t, d, NH, T, HS)];
          }
        }
      }
    }
  }
  return out;
}

/** ctx [B, NH, T, HS] -> out [B, T, C]. */
export function mergeHeadsRef(
  ctx: ArrayLike<number>,
  B: number,
  T: number,
  NH: number,
  HS: number,
) {
  const C = NH * HS, out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        for (let d = 0; d < HS; d++) {
          out[tokIndex(b, t, h * HS + d, T, C)] = ctx[headIndex(b, h, t, d, NH, T, HS)];
        }
      }
    }
  }
  return out;
}

/** dout [B, T, C] -> dctx [B, NH, T, HS]. */
export function splitHeadsOfRef(
  dout: ArrayLike<number>,
  B: number,
  T: number,
  NH: number,
  HS: number,
) {
  const C = NH * HS, out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        for (let d = 0; d < HS; d++) {
          out[headIndex(b, h, t, d, NH, T, HS)] = dout[tokIndex(b, t, h * HS + d, T, C)];
        }
      }
    }
  }
  return out;
}

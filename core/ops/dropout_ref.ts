/**
 * Plain references of dropout (f64) and of the mask packings.
 * @module
 */
import { dropoutKeep, keepThreshold } from "./rng.ts";

/** Keep decisions (1 = kept) of elements [0, n) for (p, seed, stream), from stream element `offset`. */
export function dropoutMaskRef(
  n: number,
  p: number,
  seed: number,
  stream: number,
  offset = 0,
): Uint8Array {
  const threshold = keepThreshold(p);
  const keep = new Uint8Array(n);
  for (let i = 0; i < n; i++) keep[i] = dropoutKeep(offset + i, stream, seed, threshold) ? 1 : 0;
  return keep;
}

/** y = keep ? x / (1 - p) : 0. */
export function dropoutApplyRef(
  x: ArrayLike<number>,
  keep: ArrayLike<number>,
  p: number,
): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = keep[i] ? x[i] / (1 - p) : 0;
  return y;
}

/** Pack keep decisions into u32 words: "u8" (byte k of word w = element 4w + k) or "bit". */
export function packMaskRef(keep: ArrayLike<number>, dtype: "u8" | "bit"): Uint32Array {
  const per = dtype === "u8" ? 4 : 32, width = dtype === "u8" ? 8 : 1;
  const out = new Uint32Array(Math.ceil(keep.length / per));
  for (let i = 0; i < keep.length; i++) {
    if (keep[i]) out[Math.floor(i / per)] |= 1 << (width * (i % per));
  }
  return out;
}

/** Unpack n keep decisions from u32 words. */
export function unpackMaskRef(
  words: ArrayLike<number>,
  n: number,
  dtype: "u8" | "bit",
): Uint8Array {
  const per = dtype === "u8" ? 4 : 32, width = dtype === "u8" ? 8 : 1;
  const keep = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const field = (words[Math.floor(i / per)] >>> (width * (i % per))) & ((1 << width) - 1);
    keep[i] = field !== 0 ? 1 : 0;
  }
  return keep;
}

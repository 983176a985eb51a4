/**
 * Host conversions between f32 values and the bits of 16-bit floats (IEEE binary16 `f16`, and
 * `bf16`, the top half of an f32), the same conversions the kernels make (`core/accessors.ts`):
 * a value is first rounded to f32 (the GPU computes in f32), then to 16 bits by round to nearest,
 * ties to even, in integer arithmetic on the f32 bits. Overflow gives Inf; f16 underflows
 * gradually (subnormals down to 2^-24); Inf stays Inf and NaN stays a quiet NaN of the same sign
 * (f16: 0x7e00 | sign, payload dropped; bf16: the top payload bits kept, quiet bit set). Widening
 * to f32 is exact.
 * Arrays of 16-bit elements are stored two per u32 word, element 2w in the low half of word w
 * (a little-endian Uint16Array), padded with +0 to whole words.
 * @module
 */
import type { FloatDType, HalfDType } from "./dtype.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bits of `x` rounded to f32. */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}

/** The f32 value of 32 bits. */
export function f32FromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

/** f16 bits of `x` (rounded to f32 first), round to nearest even. */
export function f32ToF16Bits(x: number): number {
  const b = f32Bits(x);
  const sign = (b >>> 16) & 0x8000;
  const a = b & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00; // NaN
  if (a >= 0x477ff000) return sign | 0x7c00; // >= 65520 = 65504 + half an ulp (ties to even: Inf)
  if (a >= 0x38800000) {
    // Normal f16 (>= 2^-14): rebias the exponent (127 -> 15), round 13 mantissa bits away; a
    // carry out of the mantissa bumps the exponent, which is the correct result.
    const m = a - 0x38000000;
    return sign | ((m + 0xfff + ((m >>> 13) & 1)) >>> 13);
  }
  if (a < 0x33000000) return sign; // < 2^-25: rounds to zero (2^-25 itself is a tie, to 0 even)
  // Subnormal f16: the value in units of 2^-24 is mant * 2^(e - 126) with the implicit bit.
  const e = a >>> 23;
  const mant = (a & 0x7fffff) | 0x800000;
  const shift = 126 - e; // 14..24
  const q = mant >>> shift;
  const rem = mant - q * 2 ** shift, half = 2 ** (shift - 1);
  return sign | (q + (rem > half || (rem === half && (q & 1) === 1) ? 1 : 0));
}

/** The f32 value of f16 bits (exact). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1024 + m) * 2 ** (e - 25);
}

/** bf16 bits of `x` (rounded to f32 first), round to nearest even. */
export function f32ToBf16Bits(x: number): number {
  const b = f32Bits(x);
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x40; // NaN: keep it one (quiet bit)
  // b + 0x7fff + lsb stays below 2^32 for every non-NaN b; a carry into the exponent is correct
  // (the largest finite f32 values round to Inf).
  return (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
}

/** The f32 value of bf16 bits (exact: a shift). */
export function bf16BitsToF32(h: number): number {
  return f32FromBits((h & 0xffff) << 16);
}

/** 16-bit bits of `x` in `dtype`. */
export function toHalfBits(dtype: HalfDType, x: number): number {
  return dtype === "f16" ? f32ToF16Bits(x) : f32ToBf16Bits(x);
}

/** The value of 16-bit bits of `dtype`. */
export function fromHalfBits(dtype: HalfDType, h: number): number {
  return dtype === "f16" ? f16BitsToF32(h) : bf16BitsToF32(h);
}

/** The value `x` holds once stored as `dtype` (f32: rounded to f32; 16-bit: to f32, then to 16 bits). */
export function roundTo(dtype: FloatDType, x: number): number {
  if (dtype === "f32") return Math.fround(x);
  return fromHalfBits(dtype, toHalfBits(dtype, x));
}

/** `data` rounded elementwise to `dtype`, e.g. the inputs of a reference as a kernel sees them. */
export function roundedTo(dtype: FloatDType, data: ArrayLike<number>): Float64Array {
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = roundTo(dtype, data[i]);
  return out;
}

/**
 * The 16-bit bits of `data` as stored on the GPU: two per u32 word, padded with +0 to a whole
 * number of words (the length is even), ready for a buffer write.
 */
export function encodeHalves(dtype: HalfDType, data: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(2 * Math.ceil(data.length / 2));
  for (let i = 0; i < data.length; i++) out[i] = toHalfBits(dtype, data[i]);
  return out;
}

/**
 * The first `n` elements of 16-bit `dtype` bits as f32 values (exact). The f32 bits are written
 * directly, so NaN payloads survive as the GPU's widening would leave them.
 */
export function decodeHalves(
  dtype: HalfDType,
  bits: Uint16Array,
  n: number = bits.length,
): Float32Array {
  if (n > bits.length) throw new Error(`decodeHalves: ${n} elements asked of ${bits.length}`);
  const out = new Float32Array(n);
  const words = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) {
    const h = bits[i];
    if (dtype === "bf16") words[i] = h << 16;
    else if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) {
      words[i] = ((h & 0x8000) << 16) | 0x7fc00000 | ((h & 0x3ff) << 13); // quiet NaN
    } else out[i] = f16BitsToF32(h);
  }
  return out;
}

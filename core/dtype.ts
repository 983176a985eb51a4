/**
 * Element types of tensors. On the GPU everything is stored in 32-bit words (WGSL has no 8-bit
 * storage, and 16-bit storage without `shader-f16` only as packed words):
 * - `f32`, `i32`, `u32`: one element per word;
 * - `f16`: IEEE binary16, two per word; kernels declare them as WGSL `f16`, which needs the
 *   adapter feature `shader-f16` (see `core/dtype_check.ts`);
 * - `bf16`: bfloat16 (the top half of an f32), two per word, element 2w in the low half of word
 *   w; kernels see u32 words and convert with shifts, so it works on every adapter;
 * - `u8`, `bit`: masks, 4 bytes (byte k of word w = element 4w + k) or 32 bits per word.
 * Arithmetic is f32 whatever the storage (`core/accessors.ts`); host conversions are in
 * `core/half.ts`.
 * @module
 */

/** Element type of a tensor. */
export type DType = "f32" | "f16" | "bf16" | "u32" | "i32" | "u8" | "bit";

/** All dtypes, for validation. */
export const DTYPES: readonly DType[] = ["f32", "f16", "bf16", "u32", "i32", "u8", "bit"];

/** Floating-point dtypes: kernels load and store them as f32 values. */
export type FloatDType = "f32" | "f16" | "bf16";

/** The 16-bit floating-point dtypes (two elements per u32 word). */
export type HalfDType = "f16" | "bf16";

/** Whether `d` is a floating-point dtype (f32, f16, bf16). */
export function isFloat(d: DType): d is FloatDType {
  return d === "f32" || d === "f16" || d === "bf16";
}

/** Whether `d` is a 16-bit floating-point dtype (f16, bf16). */
export function isHalf(d: DType): d is HalfDType {
  return d === "f16" || d === "bf16";
}

/** Bits one element occupies in storage: 32, 16 (f16, bf16), 8 (u8) or 1 (bit). */
export function elementBits(d: DType): 32 | 16 | 8 | 1 {
  switch (d) {
    case "f32":
    case "u32":
    case "i32":
      return 32;
    case "f16":
    case "bf16":
      return 16;
    case "u8":
      return 8;
    case "bit":
      return 1;
  }
}

/** Bytes per element in storage: 4, 2, 1, or 1/8 for `bit`. */
export function elementBytes(d: DType): number {
  return elementBits(d) / 8;
}

/** Bytes that `n` elements of `dtype` occupy, rounded up to whole u32 words (GPU buffers are word-addressed). */
export function bytesOf(dtype: DType, n: number): number {
  return 4 * Math.ceil((n * elementBits(dtype)) / 32);
}

/**
 * Elements of `dtype` in `bytes` bytes (the inverse of `bytesOf` for whole words), e.g. the
 * element step of a chunk whose byte offsets must be multiples of the storage alignment.
 */
export function elementsIn(dtype: DType, bytes: number): number {
  return Math.floor((bytes * 8) / elementBits(dtype));
}

/**
 * Unit roundoff of a float dtype: half the distance from 1 to the next value (2^-24, f16 2^-11,
 * bf16 2^-8). Storing x rounds it to x (1 + d) with |d| <= this in the normal range; tests state
 * their tolerances as multiples of it.
 */
export function unitRoundoff(d: FloatDType): number {
  return d === "f32" ? 2 ** -24 : d === "f16" ? 2 ** -11 : 2 ** -8;
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

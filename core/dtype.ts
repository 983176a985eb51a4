/**
 * Element types of tensors. `u8` and `bit` are packed into u32 words on the GPU
 * (4 bytes per word, 32 bits per word): WGSL has no 8-bit or 1-bit storage.
 * @module
 */

/** Element type of a tensor. */
export type DType = "f32" | "f16" | "u32" | "i32" | "u8" | "bit";

/** All dtypes, for validation. */
export const DTYPES: readonly DType[] = ["f32", "f16", "u32", "i32", "u8", "bit"];

/** Bytes that `n` elements of `dtype` occupy, rounded up to whole u32 words (GPU buffers are word-addressed). */
export function bytesOf(dtype: DType, n: number): number {
  switch (dtype) {
    case "f32":
    case "u32":
    case "i32":
      return 4 * n;
    case "f16":
      return 4 * Math.ceil(n / 2);
    case "u8":
      return 4 * Math.ceil(n / 4);
    case "bit":
      return 4 * Math.ceil(n / 32);
  }
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

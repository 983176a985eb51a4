/**
 * What the two buffer kernels (`blocked`, `tiled`) share: A, B and C as storage buffers, one set
 * of uniforms (the chunk's sizes, leading dimensions, offsets and batch strides, in elements of
 * each binding's type), and the store epilogue C = alpha * v + (beta != 0 ? C : 0).
 * @module
 */
import type { KernelSpec } from "../../kernel.ts";

/** Uniforms of the buffer kernels. */
const UNIFORMS: KernelSpec["uniforms"] = [
  ["M", "u32"],
  ["N", "u32"],
  ["K", "u32"],
  ["lda", "u32"],
  ["ldb", "u32"],
  ["ldc", "u32"],
  ["offA", "u32"],
  ["offB", "u32"],
  ["offC", "u32"],
  ["sA", "u32"],
  ["sB", "u32"],
  ["sC", "u32"],
  ["alpha", "f32"],
  ["beta", "f32"],
];

/** WGSL `store_c(idx, v)`: C[idx] = alpha * v, plus C[idx] when beta is 1 (never read at 0). */
const STORE_FN = `fn store_c(idx: u32, v: f32) {
  C[idx] = u.alpha * v + select(0.0, C[idx], u.beta != 0.0);
}`;

/** The parts of a buffer kernel that differ between kernels. */
export interface BufferKernelParts {
  /** Unique spec name. */
  name: string;
  /** A read as vec4 (else f32). */
  vecA: boolean;
  /** B read as vec4 (else f32). */
  vecB: boolean;
  /** Workgroup size, x along n. */
  workgroupSize: readonly [number, number];
  /** Module-scope WGSL besides `store_c` (e.g. workgroup arrays). */
  prelude?: string;
  /** Body of main; writes C through `store_c`. */
  body: string;
}

/** A buffer kernel's spec. */
export function bufferKernel(k: BufferKernelParts): KernelSpec {
  return {
    name: k.name,
    bindings: [
      { name: "A", type: k.vecA ? "vec4<f32>" : "f32" },
      { name: "B", type: k.vecB ? "vec4<f32>" : "f32" },
      { name: "C", type: "f32", write: true },
    ],
    uniforms: UNIFORMS,
    workgroupSize: k.workgroupSize,
    prelude: k.prelude ? `${k.prelude}\n${STORE_FN}` : STORE_FN,
    body: k.body,
  };
}

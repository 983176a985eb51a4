/**
 * What the two buffer kernels (`blocked`, `tiled`) share: A, B and C as storage bindings of their
 * dtypes (f32, f16, bf16; read and written in f32 through the generated accessors), one set of
 * uniforms (the chunk's sizes, leading dimensions, offsets and batch strides, in elements of each
 * binding's storage type: vec4 bindings count quads), and the store epilogue C = alpha * v +
 * (beta != 0 ? C : 0) at the kernel's store width (`c_store.ts`).
 * @module
 */
import type { FloatDType } from "../../dtype.ts";
import type { KernelSpec } from "../../kernel.ts";
import { type CStore, cWidth, epilogueWgsl } from "./c_store.ts";

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

/** Storage types of a product's operands. */
export interface Dtypes {
  /** A's storage type. */
  dA: FloatDType;
  /** B's storage type. */
  dB: FloatDType;
  /** C's storage type. */
  dC: FloatDType;
}

/** `_f32bf16f32`-style name suffix of a product's storage types. */
export function dtypeTag(d: Dtypes): string {
  return `${d.dA}${d.dB}${d.dC}`;
}

/** The parts of a buffer kernel that differ between kernels. */
export interface BufferKernelParts extends Dtypes {
  /** Unique spec name. */
  name: string;
  /** A read as vec4 (its binding has width 4). */
  vecA: boolean;
  /** B read as vec4. */
  vecB: boolean;
  /** How C is stored (the body calls `out1`, `out2` or `out4`). */
  store: CStore;
  /** Workgroup size, x along n. */
  workgroupSize: readonly [number, number];
  /** Module-scope WGSL besides the epilogue (e.g. workgroup arrays). */
  prelude?: string;
  /** Body of main; writes C through the epilogue. */
  body: string;
}

/** A buffer kernel's spec. */
export function bufferKernel(k: BufferKernelParts): KernelSpec {
  const epilogue = epilogueWgsl(k.store);
  return {
    name: k.name,
    bindings: [
      { name: "A", dtype: k.dA, width: k.vecA ? 4 : 1 },
      { name: "B", dtype: k.dB, width: k.vecB ? 4 : 1 },
      { name: "C", dtype: k.dC, width: cWidth(k.dC, k.store), write: true },
    ],
    uniforms: UNIFORMS,
    workgroupSize: k.workgroupSize,
    prelude: k.prelude ? `${k.prelude}\n${epilogue}` : epilogue,
    body: k.body,
  };
}

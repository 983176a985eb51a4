/**
 * A matmul call as every kernel path sees it once `matmul` has validated it, and how a path
 * binds an element range of an operand.
 * @module
 */
import { elementBits, type FloatDType } from "../../dtype.ts";
import type { Encoder, TensorRange } from "../../encoder.ts";
import type { Gpu } from "../../gpu.ts";
import type { Tensor } from "../../tensor.ts";

/**
 * C = alpha * op(A) @ op(B) + beta * C for each of `batch` products: op(A) is [M, K], op(B)
 * [K, N], C [M, N], row-major, matrix b starting at element b * s of its tensor. Each of A, B
 * and C is stored f32, f16 or bf16 (`dA`, `dB`, `dC`); kernels multiply and accumulate in f32.
 */
export interface Product {
  /** The encoder (on a GPU: `gpu` is `enc.gpu`). */
  enc: Encoder;
  /** The GPU and its kernel policy. */
  gpu: Gpu;
  /** [batch, M, N] output, strided by sC. */
  C: Tensor;
  /** [batch, M, K], or [batch, K, M] with transA. */
  A: Tensor;
  /** [batch, K, N], or [batch, N, K] with transB. */
  B: Tensor;
  /** Rows of C. */
  M: number;
  /** Columns of C. */
  N: number;
  /** The contracted dimension. */
  K: number;
  /** A is stored [K, M]. */
  transA: boolean;
  /** B is stored [N, K]. */
  transB: boolean;
  /** Scale of the product. */
  alpha: number;
  /** 0 (C overwritten, old contents ignored even if NaN) or 1 (accumulate). */
  beta: 0 | 1;
  /** Independent products. */
  batch: number;
  /** Elements between consecutive A matrices. */
  sA: number;
  /** Elements between consecutive B matrices (0: one B for every product). */
  sB: number;
  /** Elements between consecutive C matrices. */
  sC: number;
  /** Elements one storage binding may span (chunks keep every operand range within it). */
  limit: number;
  /** Storage type of A. */
  dA: FloatDType;
  /** Storage type of B. */
  dB: FloatDType;
  /** Storage type of C. */
  dC: FloatDType;
}

/** Elements of `t` between aligned binding offsets (at least a vec4 of them). */
function alignOf(gpu: Gpu, t: Tensor): number {
  return Math.max(4, (gpu.storageAlign * 8) / elementBits(t.dtype));
}

/** f32 elements between aligned binding offsets (at least a vec4). */
export function alignElems(gpu: Gpu): number {
  return Math.max(4, gpu.storageAlign / 4);
}

/**
 * The binding of elements [s, e) of `t` (any float dtype): offset aligned down, size rounded up
 * to whole quads of elements (within the buffer); returns it with the element offset of s inside
 * it.
 */
export function bindRange(gpu: Gpu, t: Tensor, s: number, e: number): [TensorRange, number] {
  const bits = elementBits(t.dtype), alignEl = alignOf(gpu, t);
  const base = Math.floor(s / alignEl) * alignEl;
  const end = Math.min(Math.ceil(e / 4) * 4, Math.floor(((t.gpu.size - t.offset) * 8) / bits));
  const bytes = (n: number) => (n * bits) / 8;
  return [{ tensor: t, offset: bytes(base), size: 4 * Math.ceil(bytes(end - base) / 4) }, s - base];
}

/**
 * The binding of C for the chunk of items [b0, b0 + nb), rows [m0, m0 + mc), columns
 * [n0, n0 + nc), and the element offset of its first element inside it.
 */
export function bindC(
  p: Product,
  b0: number,
  nb: number,
  m0: number,
  mc: number,
  n0: number,
  nc: number,
): [TensorRange, number] {
  const { N, sC } = p;
  return bindRange(
    p.gpu,
    p.C,
    b0 * sC + m0 * N + n0,
    (b0 + nb - 1) * sC + (m0 + mc - 1) * N + n0 + nc,
  );
}

/**
 * Matrix multiply: C = alpha * op(A) @ op(B) + beta * C, batched, any layout (NN, NT, TN, TT),
 * any M, N, K >= 1. A, B and C are each stored f32, f16 or bf16 (16-bit operands with f32
 * accumulation: e.g. 16-bit activations times f32 weights, converted inside the kernel, or
 * dW += dY^T X from 16-bit dY and X into an f32 gradient); bf16 C needs N even (`c_store.ts`).
 * Every kernel family takes every combination. Three kernel families, picked by the kernel policy
 * (`matmul`, see kernel_policy.ts; the software adapter's default takes `blocked` for products
 * under 32^3 multiply-adds):
 * - `texture` (software adapter, `texture.ts`): per chunk, each operand is packed into one of the
 *   encoder's two rgba32float scratch textures, by a buffer-to-texture copy where its rows are
 *   already laid out as texture lines (`texture_pack.ts`): op(A) and op(B)^T stored along k as
 *   rows of k, A stored [K, M] and B stored [K, N] in their natural layout as one texture row per
 *   k (`texture_geometry.ts`); a small packing kernel otherwise. Then one kernel reads both
 *   textures with 32x16 outputs per invocation and writes C (`texture_kernel.ts`).
 * - `blocked` (`blocked.ts`): buffers only, a block of outputs per invocation in registers (the
 *   policy's block), vec4 loads where the layout allows.
 * - `tiled` (real GPUs, `tiled.ts`): register tiling over workgroup memory, the policy's tile
 *   (block tile, outputs per invocation, vec4 loads, double buffering).
 * Operands larger than one storage binding are split into chunks (over batch, m, n or k,
 * whichever shrinks the operand: `chunks.ts`) bound as aligned ranges; a k split accumulates
 * into C with beta 1 (for 16-bit C, C is rounded once per k chunk). Ops never allocate: A, B, C
 * are the caller's.
 * @module
 */
import type { FloatDType } from "../../dtype.ts";
import { needDtype, needDtypeSupport } from "../../dtype_check.ts";
import type { Encoder } from "../../encoder.ts";
import { DTypeError } from "../../errors.ts";
import { matmulKernelFor } from "../../kernel_policy.ts";
import type { Tensor } from "../../tensor.ts";
import { bindingLimit } from "../chunking.ts";
import { matmulBuffers } from "./buffers.ts";
import { rowsAligned } from "./c_store.ts";
import { alignElems, type Product } from "./product.ts";
import { matmulTexture } from "./texture.ts";

/** Options of `matmul`. */
export interface MatmulOptions {
  /** A is stored [K,M] (row-major) instead of [M,K]. */
  transA?: boolean;
  /** B is stored [N,K] instead of [K,N]. */
  transB?: boolean;
  /** Scale of the product (default 1). */
  alpha?: number;
  /** 0 (C is overwritten; old contents ignored, even NaN) or 1 (accumulate). Default 0. */
  beta?: number;
  /** Number of independent products (default 1). */
  batch?: number;
  /** Elements between consecutive A matrices (default M*K). */
  strideA?: number;
  /** Elements between consecutive B matrices (default K*N; 0 broadcasts one B to every batch). */
  strideB?: number;
  /** Elements between consecutive C matrices (default M*N; at least M*N when batch > 1). */
  strideC?: number;
  /** Largest storage binding in bytes (default gpu.maxBinding); tests lower it to force chunking. */
  maxBindingBytes?: number;
  /**
   * Texture kernel: most packed bytes of each operand (default 16 MiB); larger products are
   * chunked over batch, m, n or k. The encoder's two scratch textures only grow, each side to the
   * largest asked for (rounded up to a size class), so they can hold more than 2x this. Tests
   * lower it to force chunking.
   */
  maxScratchBytes?: number;
  /**
   * Texture kernel: widest texture line in texels (default maxTextureDimension2D, at most 8192);
   * k beyond 4x this is chunked. Tests lower it to force wrapped lines and k chunks.
   */
  maxTextureWidth?: number;
}

/** Texture kernel: default bytes of each packed operand. */
const SCRATCH_BYTES = 16 << 20;

function checkDim(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) {
    throw new Error(`matmul: ${name} must be an integer >= ${min}, got ${v}`);
  }
}

/**
 * C = alpha * op(A) @ op(B) + beta * C, batched: for each b < batch, the matrices start at element
 * b * strideX of their tensor. op(A) is [M,K], op(B) is [K,N], row-major, each of A, B, C f32,
 * f16 or bf16 (f16 needs the adapter's `shader-f16`; bf16 C needs N even, and strideC even when
 * batch > 1). The kernel is the policy's (`enc.gpu.kernels.matmul`).
 * @param enc the encoder
 * @param C [batch, M, N] output (or strided by `strideC`); must not alias A or B
 * @param A [batch, M, K], or [batch, K, M] with `transA` (e.g. x [N,C] in a Linear)
 * @param B [batch, K, N], or [batch, N, K] with `transB` (e.g. W [out,in] in y = x W^T)
 * @param M rows of C
 * @param N columns of C
 * @param K the contracted dimension
 * @param opts layout, scaling, batching and chunking options
 */
export function matmul(
  enc: Encoder,
  C: Tensor,
  A: Tensor,
  B: Tensor,
  M: number,
  N: number,
  K: number,
  opts: MatmulOptions = {},
): void {
  const transA = opts.transA ?? false, transB = opts.transB ?? false;
  const alpha = opts.alpha ?? 1, beta = opts.beta ?? 0, batch = opts.batch ?? 1;
  checkDim("M", M, 1);
  checkDim("N", N, 1);
  checkDim("K", K, 1);
  checkDim("batch", batch, 1);
  if (beta !== 0 && beta !== 1) throw new Error(`matmul: beta must be 0 or 1, got ${beta}`);
  const floats: FloatDType[] = ["f32", "f16", "bf16"];
  const dA = needDtype("matmul", "A", A, floats), dB = needDtype("matmul", "B", B, floats);
  const dC = needDtype("matmul", "C", C, floats);
  if (C === A || C === B) throw new Error("matmul: C must not alias A or B");
  const sA = opts.strideA ?? M * K, sB = opts.strideB ?? K * N, sC = opts.strideC ?? M * N;
  if (dC === "bf16" && !rowsAligned({ dC, N, batch, sC }, 2)) {
    throw new DTypeError(
      `matmul: C ${C} is bf16 with ${N % 2 ? `N = ${N} odd` : `strideC = ${sC} odd`}: ` +
        "its rows would share u32 words whose halves two invocations store at once; keep C " +
        "f32 (the accumulation is f32 anyway) or f16, or pad N to even",
    );
  }
  checkDim("strideA", sA, 0);
  checkDim("strideB", sB, 0);
  checkDim("strideC", sC, 0);
  if (batch > 1 && sC < M * N) {
    throw new Error(`matmul: strideC ${sC} < M*N = ${M * N} would overlap outputs of the batch`);
  }
  const operands = [[A, sA, M * K, "A"], [B, sB, K * N, "B"], [C, sC, M * N, "C"]] as const;
  for (const [t, s, n, name] of operands) {
    const need = (batch - 1) * s + n;
    if (t.size < need) {
      throw new Error(`matmul: ${name} ${t} has ${t.size} elements, needs ${need}`);
    }
  }
  const gpu = enc.gpu;
  if (!gpu) return;
  if (dA === "f16" || dB === "f16" || dC === "f16") needDtypeSupport(gpu, "f16");
  const maxBytes = bindingLimit(gpu, opts.maxBindingBytes);
  const limit = Math.floor(maxBytes / 4) - alignElems(gpu) - 4;
  if (limit < 64) throw new Error(`matmul: maxBindingBytes ${maxBytes} is too small`);
  const p: Product = {
    enc,
    gpu,
    C,
    A,
    B,
    M,
    N,
    K,
    transA,
    transB,
    alpha,
    beta,
    batch,
    sA,
    sB,
    sC,
    limit,
    dA,
    dB,
    dC,
  };
  const unalignedHalfC = dC !== "f32" && !rowsAligned({ dC, N, batch, sC }, 4);
  const kernel = matmulKernelFor(gpu.kernels, M * N * K * batch, unalignedHalfC);
  if (kernel === "texture") {
    matmulTexture(p, {
      maxScratchBytes: opts.maxScratchBytes ?? SCRATCH_BYTES,
      maxTextureWidth: opts.maxTextureWidth ?? Infinity,
    });
  } else matmulBuffers(p, kernel, gpu.kernels);
}

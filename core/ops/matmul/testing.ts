/**
 * Test support for the matmul kernels: one product checked against the f64 reference (all of C,
 * gaps between batch strides included) with a tolerance derived per element from the unit
 * roundoffs and K, the layout cases every kernel runs, batched and chunked products, 16-bit
 * cases, and fixtures whose policy runs one kernel.
 * @module
 */
import { type FloatDType, unitRoundoff } from "../../dtype.ts";
import { Encoder } from "../../encoder.ts";
import { roundedTo } from "../../half.ts";
import type { KernelOverrides, MatmulKernel, MatmulTile } from "../../kernel_policy.ts";
import { type GpuFixture, gpuFixture, randomArray } from "../../testing.ts";
import { matmul, type MatmulOptions } from "./matmul.ts";
import { matmulRef } from "./matmul_ref.ts";

/** A fixture whose policy runs `kernel` for every product (with `more` overrides, e.g. a tile). */
export function fixtureFor(kernel: MatmulKernel, more: KernelOverrides = {}): Promise<GpuFixture> {
  return gpuFixture({ kernels: { matmul: kernel, ...more } });
}

/** A tiled-kernel tile from its parts (vec4 and buffers spelled out). */
export function tile(
  m: number,
  n: number,
  k: number,
  tm: number,
  tn: number,
  vec4: boolean,
  buffers: 1 | 2,
): MatmulTile {
  return { m, n, k, tm, tn, vec4, buffers };
}

/** Storage types of a case's A, B and C (default f32 each). */
export interface CaseDtypes {
  A?: FloatDType;
  B?: FloatDType;
  C?: FloatDType;
}

/** One product to check. */
export interface Case {
  /** Rows of C. */
  M: number;
  /** Columns of C. */
  N: number;
  /** The contracted dimension. */
  K: number;
  /** Layout, scaling, batching and chunking. */
  opts: MatmulOptions;
  /** Old contents of C: "random" (checked by beta 1) or "nan" (beta 0 must ignore it). */
  c0?: "random" | "nan";
  /** Storage types (default f32). */
  dtypes?: CaseDtypes;
  /** k chunks the product is split into (each rounds C once more; default 1). */
  kChunks?: number;
}

/**
 * Tolerance of element i of C: inputs are the values the GPU holds (rounded to their dtypes
 * before the f64 reference sees them), so the error is f32 accumulation plus the store into C.
 * Summing K products, scaling by alpha and adding beta * C in f32, in any order, is within
 * gamma_(K+2) * s_i of the exact value, s_i = |alpha| sum_k |a_ik| |b_kj| + beta |c0_i|, and each
 * of the kChunks - 1 extra passes over C (a k split) adds one f32 and one C rounding. Storing
 * into C's dtype adds u_C of the value (unit roundoffs: f32 2^-24, f16 2^-11, bf16 2^-8):
 *   tol_i = (K + 2 + r) u32 s_i (1 + u_C) + u_C (|c_i| + r s_i),  r = kChunks - 1.
 * A missing or doubled term is off by |a_ik b_kj| (~0.25 here): far beyond it for f32 C, and
 * beyond it for 16-bit C unless |c_i| is ~100 times larger.
 */
export function tolerance(
  exact: number,
  s: number,
  K: number,
  dC: FloatDType,
  kChunks = 1,
): number {
  const r = kChunks - 1, u32 = unitRoundoff("f32"), uC = unitRoundoff(dC);
  return 1.01 * ((K + 2 + r) * u32 * s * (1 + uC) + uC * (Math.abs(exact) + r * s));
}

/** Run one case on the GPU and compare all of C (gaps between batch strides untouched). */
export async function check(f: GpuFixture, c: Case, seed: number, what: string): Promise<number> {
  const { M, N, K, opts } = c;
  const dA = c.dtypes?.A ?? "f32", dB = c.dtypes?.B ?? "f32", dC = c.dtypes?.C ?? "f32";
  const batch = opts.batch ?? 1;
  const sA = opts.strideA ?? M * K, sB = opts.strideB ?? K * N, sC = opts.strideC ?? M * N;
  const nA = (batch - 1) * sA + M * K, nB = (batch - 1) * sB + K * N;
  const nC = (batch - 1) * sC + M * N + 3; // 3 trailing elements must stay untouched
  const a = roundedTo(dA, randomArray(nA, seed)), b = roundedTo(dB, randomArray(nB, seed + 1));
  const c0 = c.c0 === "nan"
    ? new Float64Array(nC).fill(NaN)
    : roundedTo(dC, randomArray(nC, seed + 2));
  const A = f.upload(a, [nA], dA), B = f.upload(b, [nB], dB), C = f.upload(c0, [nC], dC);
  matmul(f.enc, C, A, B, M, N, K, opts);
  const got = await f.readF32(C);
  const want = matmulRef(c0, a, b, M, N, K, opts);
  const abs = (x: Float64Array) => x.map(Math.abs);
  const size = matmulRef(abs(c0), abs(a), abs(b), M, N, K, {
    ...opts,
    alpha: Math.abs(opts.alpha ?? 1),
  });
  const isOut = new Uint8Array(nC);
  for (let bi = 0; bi < batch; bi++) isOut.fill(1, bi * sC, bi * sC + M * N);
  let worst = 0, worstAt = -1, maxErr = 0;
  for (let i = 0; i < nC; i++) {
    if (Number.isNaN(got[i]) !== Number.isNaN(want[i])) {
      throw new Error(`${what}: element ${i}: got ${got[i]}, expected ${want[i]}`);
    }
    if (Number.isNaN(want[i])) continue;
    const err = Math.abs(got[i] - want[i]);
    const tol = isOut[i] ? tolerance(want[i], size[i], K, dC, c.kChunks) : 0;
    maxErr = Math.max(maxErr, err);
    if (err > tol && err / Math.max(tol, 1e-300) > worst) {
      worst = err / Math.max(tol, 1e-300);
      worstAt = i;
    }
  }
  for (const t of [A, B, C]) f.alloc.release(t);
  if (worstAt >= 0) {
    const i = worstAt;
    throw new Error(
      `${what} (${dA}, ${dB} -> ${dC}): element ${i}${isOut[i] ? "" : " (outside the outputs)"}: ` +
        `got ${got[i]}, expected ${want[i]}, tolerance ${
          isOut[i] ? tolerance(want[i], size[i], K, dC, c.kChunks).toExponential(2) : 0
        }`,
    );
  }
  return maxErr;
}

const T = { transA: true }, NT = { transB: true }, TT = { transA: true, transB: true };

/**
 * Each layout at odd sizes (scalar loads), at multiples of 4 (vec4 loads), and mixed (vec4 along
 * m / n with odd K). M or N > 64 spans several blocked workgroups (8x8 blocks) and tiles.
 */
export const LAYOUT_CASES: [string, Case][] = [
  ["NT odd", { M: 37, N: 29, K: 19, opts: NT }],
  ["NT vec4", { M: 52, N: 140, K: 24, opts: NT }],
  ["NN odd", { M: 37, N: 29, K: 19, opts: {} }],
  ["NN vec4", { M: 133, N: 36, K: 24, opts: {} }],
  ["NN odd K", { M: 33, N: 20, K: 13, opts: {} }],
  ["TN odd", { M: 37, N: 29, K: 19, opts: T }],
  ["TN vec4, odd K", { M: 132, N: 20, K: 13, opts: T }],
  ["TT odd", { M: 37, N: 29, K: 19, opts: TT }],
  ["TT vec4", { M: 52, N: 36, K: 24, opts: TT }],
];

/** Strided batches, a broadcast B, alpha, beta 1, and beta 0 over a NaN-filled C. */
export async function checkBatched(f: GpuFixture, variant: string): Promise<void> {
  // Strided batch (gaps in C must stay untouched), broadcast B, alpha and accumulation.
  await check(
    f,
    {
      M: 20,
      N: 12,
      K: 8,
      opts: {
        transB: true,
        batch: 3,
        strideA: 20 * 8 + 4,
        strideB: 0,
        strideC: 20 * 12 + 7,
        alpha: 0.5,
        beta: 1,
      },
    },
    100,
    `${variant} NT batched beta 1`,
  );
  // Odd strides (scalar loads), beta 0 over a NaN-filled C.
  await check(
    f,
    {
      M: 9,
      N: 12,
      K: 7,
      c0: "nan",
      opts: { batch: 2, strideA: 9 * 7 + 1, strideB: 7 * 12 + 5, alpha: -2 },
    },
    200,
    `${variant} NN batched beta 0 NaN`,
  );
  // The attention form: P^T dC batched over B*NH (TN), beta 0 over NaN.
  await check(
    f,
    {
      M: 12,
      N: 8,
      K: 12,
      c0: "nan",
      opts: { transA: true, batch: 4 },
    },
    300,
    `${variant} TN batched`,
  );
}

/** Operands over a small maxBindingBytes: each case must be split into several dispatches. */
export async function checkChunked(f: GpuFixture, variant: string): Promise<void> {
  const cases: [string, Case][] = [
    // LM-head form: B = Wte [N,K] too big (split over n), C too big (split over m).
    ["NT split n, m", { M: 19, N: 300, K: 40, opts: { transB: true, maxBindingBytes: 8192 } }],
    // Weight-gradient form: A stored [K,M] and B [K,N] too big (split over k, accumulating).
    ["TN split k", {
      M: 24,
      N: 20,
      K: 301,
      opts: { transA: true, alpha: 2, beta: 1, maxBindingBytes: 8192 },
      kChunks: 4, // A's 24 x 76 k chunks fit 8 KiB
    }],
    // dx = dlogits Wte form: A [M,K] split over m, B [K,N] split over k; beta 0 over NaN.
    ["NN split m, k", {
      M: 30,
      N: 36,
      K: 201,
      c0: "nan",
      opts: { maxBindingBytes: 8192 },
      kChunks: 4, // B's 52 x 36 k chunks
    }],
    // Batched: the batch is split first.
    ["NT batched split", {
      M: 12,
      N: 16,
      K: 32,
      opts: { transB: true, batch: 5, strideB: 0, maxBindingBytes: 2048 },
    }],
  ];
  let seed = 400;
  for (const [what, c] of cases) {
    const before = f.enc.dispatches;
    await check(f, c, seed += 3, `${variant} ${what}`);
    if (f.enc.dispatches - before < 2) throw new Error(`${variant} ${what}: was not chunked`);
  }
}

/**
 * 16-bit cases: each dtype as A, B and C, every layout, odd and 4-aligned sizes, 16-bit C stored
 * single (f16), in pairs and in quads, batched, beta 0 over NaN and beta 1, k chunks, and the
 * forms training needs (16-bit activations times f32 weights; dW += dY^T X from 16-bit dY and X
 * into f32). Chosen so that the texture path compiles two new kernels only (each costs tens of
 * seconds cold on llvmpipe): its bf16 operands with f32 C share the f32 kernels (rgba32float),
 * f16 operands reach it in two forms (a k-rows A, natural-layout B), and 16-bit C with rows not
 * 4-aligned (cases marked `texture: blocked`) runs the blocked kernel. `core` marks the cases
 * the tiled kernel runs (one per staging orientation and store mode).
 */
export const HALF_CASES: [string, Case, "core" | ""][] = [
  ["NT bf16 activations x f32 weights -> f32 (a Linear forward)", {
    M: 37,
    N: 28,
    K: 24,
    opts: NT,
    dtypes: { A: "bf16", B: "f32", C: "f32" },
  }, "core"],
  ["NT f16 x bf16 -> bf16 quads, K not 4-aligned", {
    M: 37,
    N: 28,
    K: 22,
    opts: NT,
    dtypes: { A: "f16", B: "bf16", C: "bf16" },
  }, "core"],
  ["NN f16 x f32 -> f16, odd N and K (single f16 stores; texture: blocked)", {
    M: 33,
    N: 29,
    K: 19,
    opts: {},
    dtypes: { A: "f16", B: "f32", C: "f16" },
  }, "core"],
  ["TN bf16 dY^T x bf16 X += f32 dW (beta 1)", {
    M: 36,
    N: 20,
    K: 40,
    opts: { transA: true, beta: 1 },
    dtypes: { A: "bf16", B: "bf16", C: "f32" },
  }, ""],
  ["TT bf16 x bf16 -> f32, odd M and K, beta 0 over NaN", {
    M: 21,
    N: 20,
    K: 13,
    c0: "nan",
    opts: TT,
    dtypes: { A: "bf16", B: "bf16", C: "f32" },
  }, ""],
  ["TN batched bf16 x f16 -> f16 quads, broadcast B (copied), alpha, beta 1", {
    M: 20,
    N: 12,
    K: 8,
    opts: {
      transA: true,
      batch: 3,
      strideA: 20 * 8 + 4,
      strideB: 0,
      strideC: 248,
      alpha: 0.5,
      beta: 1,
    },
    dtypes: { A: "bf16", B: "f16", C: "f16" },
  }, "core"],
  ["NN batched bf16 x f32 -> bf16 pairs, odd strides, beta 0 over NaN (texture: blocked)", {
    M: 9,
    N: 14,
    K: 7,
    c0: "nan",
    opts: { batch: 2, strideA: 9 * 7 + 1, strideB: 7 * 14 + 5, strideC: 128, alpha: -2 },
    dtypes: { A: "bf16", B: "f32", C: "bf16" },
  }, "core"],
  ["TN bf16 x f16 += f16 over maxBindingBytes (k chunks accumulating in f16)", {
    M: 24,
    N: 20,
    K: 301,
    opts: { transA: true, alpha: 2, beta: 1, maxBindingBytes: 8192 },
    dtypes: { A: "bf16", B: "f16", C: "f16" },
    kChunks: 4,
  }, ""],
];

/** Run the 16-bit cases (`HALF_CASES`; only the `core` ones when `core`). */
export async function checkHalf(f: GpuFixture, variant: string, core = false): Promise<void> {
  let seed = 1700;
  for (const [what, c, mark] of HALF_CASES) {
    seed += 3;
    if (!core || mark === "core") await check(f, c, seed, `${variant} ${what}`);
  }
}

/** A fixture whose encoder logs the kernel name of each dispatch (`enc.names`). */
export function namingFixture(base: GpuFixture): GpuFixture & { enc: NamingEncoder } {
  const enc = new NamingEncoder(base.gpu);
  return {
    ...base,
    enc,
    upload(data, shape, dtype = "f32", category = "workspace") {
      const t = base.alloc.alloc(shape, dtype, category, "upload");
      enc.writeFromF32(t, data);
      return t;
    },
    readF32: (t) => enc.readAsF32(t),
  };
}

/** An encoder that logs the kernel name of each dispatch (and `(copy to texture)`). */
export class NamingEncoder extends Encoder {
  /** Kernel names of the dispatches, in order. */
  names: string[] = [];
  /** Record the kernel's name, then dispatch. */
  override dispatch(...args: Parameters<Encoder["dispatch"]>): void {
    this.names.push(args[0].name);
    super.dispatch(...args);
  }
  override copyToTexture(...args: Parameters<Encoder["copyToTexture"]>): void {
    this.names.push("(copy to texture)");
    super.copyToTexture(...args);
  }
}

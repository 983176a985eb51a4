/**
 * Test support for the matmul kernels: one product checked against the f64 reference (all of C,
 * gaps between batch strides included), the layout cases every kernel runs, batched and chunked
 * products, and fixtures whose policy runs one kernel.
 * @module
 */
import { Encoder } from "../../encoder.ts";
import type { KernelOverrides, MatmulKernel } from "../../kernel_policy.ts";
import { assertClose, type GpuFixture, gpuFixture, randomArray } from "../../testing.ts";
import { matmul, type MatmulOptions } from "./matmul.ts";
import { matmulRef } from "./matmul_ref.ts";

/** A fixture whose policy runs `kernel` for every product (with `more` overrides, e.g. a tile). */
export function fixtureFor(kernel: MatmulKernel, more: KernelOverrides = {}): Promise<GpuFixture> {
  return gpuFixture({ kernels: { matmul: kernel, ...more } });
}

// Tolerances: inputs uniform in [-1, 1] (rounded to f32 before the f64 reference), K <= 300, so
// f32 accumulation error stays below ~1e-5; a missing or wrong term is off by ~0.1 or more.
const ATOL = 3e-5, RTOL = 1e-5;

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
}

const f32 = (x: ArrayLike<number>) => Float64Array.from(Float32Array.from(x));

/** Run one case on the GPU and compare all of C (gaps between batch strides included). */
export async function check(f: GpuFixture, c: Case, seed: number, what: string): Promise<number> {
  const { M, N, K, opts } = c;
  const batch = opts.batch ?? 1;
  const sA = opts.strideA ?? M * K, sB = opts.strideB ?? K * N, sC = opts.strideC ?? M * N;
  const nA = (batch - 1) * sA + M * K, nB = (batch - 1) * sB + K * N;
  const nC = (batch - 1) * sC + M * N + 3; // 3 trailing elements must stay untouched
  const a = f32(randomArray(nA, seed)), b = f32(randomArray(nB, seed + 1));
  const c0 = c.c0 === "nan" ? new Float64Array(nC).fill(NaN) : f32(randomArray(nC, seed + 2));
  const A = f.upload(a, [nA]), B = f.upload(b, [nB]), C = f.upload(c0, [nC]);
  matmul(f.enc, C, A, B, M, N, K, opts);
  const got = await f.readF32(C);
  const want = matmulRef(c0, a, b, M, N, K, opts);
  // Untouched gaps keep their old values (NaN compares as NaN only to itself: fill with 0 first).
  const g = Float64Array.from(got, (v, i) => (Number.isNaN(v) && Number.isNaN(want[i]) ? 0 : v));
  const w = want.map((v) => (Number.isNaN(v) ? 0 : v));
  for (let i = 0; i < nC; i++) {
    if (Number.isNaN(got[i]) !== Number.isNaN(want[i])) {
      throw new Error(`${what}: element ${i}: got ${got[i]}, expected ${want[i]}`);
    }
  }
  for (const t of [A, B, C]) f.alloc.release(t);
  return assertClose(g, w, ATOL, RTOL, what);
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
    }],
    // dx = dlogits Wte form: A [M,K] split over m, B [K,N] split over k; beta 0 over NaN.
    ["NN split m, k", {
      M: 30,
      N: 36,
      K: 201,
      c0: "nan",
      opts: { maxBindingBytes: 8192 },
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

/** An encoder that logs the kernel name of each dispatch. */
export class NamingEncoder extends Encoder {
  /** Kernel names of the dispatches, in order. */
  names: string[] = [];
  /** Record the kernel's name, then dispatch. */
  override dispatch(...args: Parameters<Encoder["dispatch"]>): void {
    this.names.push(args[0].name);
    super.dispatch(...args);
  }
}

/**
 * Test helpers: one shared GPU per test process, seeded inputs, tolerance checks. Without a
 * WebGPU adapter every test marked `GPU_TEST` is skipped, and one line says so.
 * @module
 */
import { Allocator } from "./allocator.ts";
import { type DType, isHalf } from "./dtype.ts";
import { Encoder } from "./encoder.ts";
import { acquireGpu, type Gpu, withKernels } from "./gpu.ts";
import { encodeHalves } from "./half.ts";
import {
  defaultKernels,
  KERNEL_FAMILIES,
  type KernelFamily,
  type KernelOverrides,
  kernelsText,
  kernelUnsupported,
} from "./kernel_policy.ts";
import type { Category, Tensor } from "./tensor.ts";

/** Why this process has no WebGPU adapter, or "" when it has one. */
async function missingAdapter(): Promise<string> {
  const nav = globalThis.navigator as Navigator & { gpu?: GPU };
  if (!nav?.gpu) return "this runtime has no navigator.gpu";
  try {
    return (await nav.gpu.requestAdapter()) ? "" : "navigator.gpu.requestAdapter() returned null";
  } catch (e) {
    return `requestAdapter failed: ${e instanceof Error ? e.message : e}`;
  }
}

/**
 * Set once the skip line is printed: each test file runs in its own realm, so only the process
 * environment tells the next file that the line was already said.
 */
const SAID = "TEMPO_TEST_NO_ADAPTER_SAID";

function envFlag(set: boolean): boolean {
  try {
    if (set) Deno.env.set(SAID, "1");
    return Deno.env.get(SAID) === "1";
  } catch {
    return false; // no environment access: say it per file
  }
}

const noAdapter = await missingAdapter();
if (noAdapter && !envFlag(false)) {
  envFlag(true); // before printing: test files loading in parallel check it too
  console.log(
    `tempo: no WebGPU adapter (${noAdapter}); skipping GPU tests — install mesa-vulkan-drivers ` +
      "(lavapipe, software) or a GPU's Vulkan driver",
  );
}

let sharedGpu: Promise<Gpu> | null = null;

/** The process-wide test GPU (software adapter in CI). */
export function testGpu(): Promise<Gpu> {
  return sharedGpu ??= acquireGpu();
}

/** A GPU, an allocator on it and an encoder, for one test. */
export interface GpuFixture {
  /** The GPU. */
  gpu: Gpu;
  /** A fresh allocator. */
  alloc: Allocator;
  /** A fresh encoder. */
  enc: Encoder;
  /**
   * Allocate and upload host data: f32/f16/bf16 values (16-bit rounded to nearest even), i32
   * values, or u32 words (u32, u8, bit).
   */
  upload(
    data: ArrayLike<number>,
    shape: readonly number[],
    dtype?: DType,
    category?: Category,
  ): Tensor;
  /** Read back as f32 (f32 tensors, and f16/bf16 widened exactly). */
  readF32(t: Tensor): Promise<Float32Array>;
  /** Read back as u32. */
  readU32(t: Tensor): Promise<Uint32Array>;
  /** Read back as i32. */
  readI32(t: Tensor): Promise<Int32Array>;
}

/** Options of `gpuFixture`. */
export interface FixtureOptions {
  /** Kernels to run instead of the policy's (e.g. `{ layernorm: "workgroup" }`). */
  kernels?: KernelOverrides;
}

/** Make a fixture on the shared test GPU (a view with `options.kernels` applied, if given). */
export async function gpuFixture(options: FixtureOptions = {}): Promise<GpuFixture> {
  const base = await testGpu();
  const gpu = options.kernels ? withKernels(base, options.kernels) : base;
  const alloc = new Allocator({ device: gpu.device });
  const enc = new Encoder(gpu);
  return {
    gpu,
    alloc,
    enc,
    upload(data, shape, dtype = "f32", category = "workspace") {
      const t = alloc.alloc(shape, dtype, category, "upload");
      const arr = dtype === "f32"
        ? Float32Array.from(data)
        : isHalf(dtype)
        ? encodeHalves(dtype, data)
        : dtype === "i32"
        ? Int32Array.from(data)
        : Uint32Array.from(data);
      enc.write(t, arr);
      return t;
    },
    readF32: (t) => isHalf(t.dtype) ? enc.readAsF32(t) : enc.readF32(t),
    readU32: async (t) => new Uint32Array(await enc.read(t)),
    readI32: async (t) => new Int32Array(await enc.read(t)),
  };
}

/** A kernel of op family F. */
export type KernelOf<F extends KernelFamily> = (typeof KERNEL_FAMILIES)[F][number];

/**
 * Run `body` once per kernel of `family` (every variant tested against the same reference), each
 * time on a fresh fixture whose policy runs that kernel at every shape. A kernel the test device
 * cannot run (a `subgroup` variant without the `subgroups` feature) is skipped, and one line
 * says which and why.
 */
export async function forEachKernel<F extends KernelFamily>(
  family: F,
  body: (f: GpuFixture, kernel: KernelOf<F>) => Promise<void>,
  kernels: readonly KernelOf<F>[] = KERNEL_FAMILIES[family],
): Promise<void> {
  const gpu = await testGpu();
  for (const kernel of kernels) {
    const why = kernelUnsupported(family, kernel, gpu);
    if (why) {
      console.log(`tempo: skipping ${family}=${kernel} on ${gpu.description}: ${why}`);
      continue;
    }
    await body(await gpuFixture({ kernels: { [family]: kernel } }), kernel);
  }
}

/**
 * Options of every test that needs the GPU: WebGPU keeps resources and ops alive across tests,
 * and without an adapter the test is skipped (`ignore`), not failed.
 */
export const GPU_TEST = {
  sanitizeOps: false,
  sanitizeResources: false,
  ignore: noAdapter !== "",
} as const;

/** A seeded PRNG (mulberry32) returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` seeded values uniform in [lo, hi). */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** `n` seeded standard normal values (Box-Muller). */
export function randn(n: number, seed: number, scale = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12), v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    out[i] = scale * m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = scale * m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/**
 * Assert |a - b| <= atol + rtol * |b| elementwise; the message names the worst element.
 * Returns the max absolute error.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol = 0,
  what = "values",
): number {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length} != expected ${expected.length}`);
  }
  let worst = -1, worstExcess = 0, maxErr = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], b = expected[i];
    const err = Math.abs(a - b);
    if (!(err <= atol + rtol * Math.abs(b))) {
      const excess = Number.isNaN(err) ? Infinity : err - (atol + rtol * Math.abs(b));
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
    if (err > maxErr || Number.isNaN(err)) maxErr = Number.isNaN(err) ? Infinity : err;
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: element ${worst}: got ${actual[worst]}, expected ${expected[worst]} ` +
        `(atol ${atol}, rtol ${rtol}, max abs err ${maxErr})`,
    );
  }
  return maxErr;
}

/**
 * The kernel policy of a GPU at WebGPU's default limits (256 invocations and 16 KiB of workgroup
 * memory per workgroup, no subgroups), as TEMPO_KERNELS text: the GPU-class kernels with the
 * small tiled-matmul tile, which llvmpipe compiles in about half the time of the large one (a cold
 * `selfcheck --bf16`: 28 s against 48 s). Tests run it in subprocesses (cli/selfcheck_test.ts,
 * cli/bundle_test.ts).
 */
export const GPU_CLASS_KERNELS: string = kernelsText(defaultKernels({
  isSoftware: false,
  workgroup: {
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupSizeY: 256,
    maxComputeWorkgroupStorageSize: 16384,
  },
}));

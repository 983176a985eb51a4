/**
 * Matmul throughput on the current adapter, every kernel variant side by side: GFLOP/s of the NT,
 * NN and TN layouts at 512^3, 1024^3, 2048^3 and the FFN shape (M=4096, K=1024, N=4096).
 * Run: `deno run -A bench/matmul.ts [--variants texture,blocked,tiled] [--shapes 512,1024]`; each
 * variant runs on a view of the GPU whose kernel policy picks it (the tiled kernel with the
 * policy's tile: TEMPO_KERNELS=tile=... changes it).
 * Method: per run, R calls of `matmul` are recorded back to back into one pass, then submit +
 * onSubmittedWorkDone is timed with performance.now() (nothing subtracted, so each run includes
 * one ~11 ms completion poll); GFLOP/s = 2*M*N*K*R / time, median over runs. Everything a call
 * dispatches is timed: for `texture` that is the packing of op(A) and op(B)^T into textures too.
 * Each (variant, layout) is called once untimed at the first shape to compile its kernels; that
 * first call is reported as "first call" (compile + one small product; the Mesa disk cache may
 * make it faster than a cold CI compile). On a software adapter `tiled` is skipped above 1024^3
 * (it runs at a few GFLOP/s). The scratch-texture bytes the encoder holds after each shape are
 * printed: they are backend memory, not part of any tensor category.
 * @module
 */
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { acquireGpu, withKernels } from "../core/gpu.ts";
import { KERNEL_FAMILIES, type MatmulKernel } from "../core/kernel_policy.ts";
import { matmul, type MatmulOptions } from "../core/ops/matmul/matmul.ts";

/** One benchmark shape: sizes, timed runs, calls per run. */
interface Shape {
  name: string;
  M: number;
  N: number;
  K: number;
  runs: number;
  reps: number;
}

const SHAPES: Shape[] = [
  { name: "512^3", M: 512, N: 512, K: 512, runs: 5, reps: 4 },
  { name: "1024^3", M: 1024, N: 1024, K: 1024, runs: 5, reps: 2 },
  { name: "2048^3", M: 2048, N: 2048, K: 2048, runs: 3, reps: 1 },
  { name: "FFN 4096x1024 @ 1024x4096", M: 4096, N: 4096, K: 1024, runs: 2, reps: 1 },
];

const LAYOUTS: [string, MatmulOptions][] = [
  ["NT", { transB: true }],
  ["NN", {}],
  ["TN", { transA: true }],
];

/** The target at 1024^3 (NT) on the software adapter, GFLOP/s. */
export const TARGET_GFLOPS = 30;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

function randomF32(n: number, seed: number): Float32Array<ArrayBuffer> {
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 4294967296 - 0.5;
  }
  return data;
}

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** Run the benchmark and print the table; returns GFLOP/s keyed "<shape> <layout> <variant>". */
export async function main(args: string[] = []): Promise<Record<string, number>> {
  const gpu = await acquireGpu();
  const alloc = new Allocator({ device: gpu.device });
  const variants = (arg(args, "variants")?.split(",") ??
    (gpu.isSoftware
      ? ["texture", "blocked", "tiled"]
      : ["tiled", "blocked", "texture"])) as MatmulKernel[];
  for (const v of variants) {
    if (!KERNEL_FAMILIES.matmul.includes(v)) {
      throw new Error(`--variants: unknown '${v}'; valid: ${KERNEL_FAMILIES.matmul.join(", ")}`);
    }
  }
  // One encoder per variant, on a view of the GPU whose policy runs it for every product.
  const encs = new Map(variants.map((v) => [v, new Encoder(withKernels(gpu, { matmul: v }))]));
  const enc = encs.get(variants[0])!;
  const only = arg(args, "shapes")?.split(",");
  const shapes = only ? SHAPES.filter((s) => only.some((o) => s.name.startsWith(o))) : SHAPES;
  console.log(`adapter: ${gpu.description} (software: ${gpu.isSoftware})`);
  console.log(
    "method: per run, R matmul calls recorded back to back, then submit + onSubmittedWorkDone " +
      "timed (nothing subtracted; packing included); GFLOP/s = 2*M*N*K*R / time, median over " +
      "runs; kernels compiled by an untimed first call per variant and layout",
  );
  const results: Record<string, number> = {};
  const firstCall: string[] = [];
  let warm = false;
  console.log(`\n${"shape".padEnd(27)}layout ${variants.map((v) => v.padStart(9)).join("")}`);
  for (const sh of shapes) {
    const { M, N, K } = sh;
    const A = alloc.alloc([M * K], "f32", "workspace", "A");
    const B = alloc.alloc([K * N], "f32", "workspace", "B");
    const C = alloc.alloc([M * N], "f32", "workspace", "C");
    enc.write(A, randomF32(M * K, 1));
    enc.write(B, randomF32(K * N, 2));
    await enc.sync();
    for (const [layout, lo] of LAYOUTS) {
      const cells: string[] = [];
      for (const variant of variants) {
        const opts = lo, enc = encs.get(variant)!;
        if (variant === "tiled" && gpu.isSoftware && M * N * K > 2 ** 30) {
          cells.push("-".padStart(9));
          continue;
        }
        if (!warm) {
          const t0 = performance.now();
          matmul(enc, C, A, B, M, N, K, opts);
          await enc.sync();
          firstCall.push(`${variant} ${layout} ${(performance.now() - t0).toFixed(0)} ms`);
        }
        const rates: number[] = [];
        for (let r = 0; r < sh.runs; r++) {
          for (let i = 0; i < sh.reps; i++) matmul(enc, C, A, B, M, N, K, opts);
          const t0 = performance.now();
          await enc.sync();
          rates.push((2 * M * N * K * sh.reps) / ((performance.now() - t0) / 1000) / 1e9);
        }
        const g = median(rates);
        results[`${sh.name} ${layout} ${variant}`] = g;
        cells.push(g.toFixed(1).padStart(9));
      }
      console.log(`${sh.name.padEnd(27)}${layout.padEnd(7)}${cells.join("")}`);
    }
    console.log(
      `${"".padEnd(27)}runs ${sh.runs} x ${sh.reps}; scratch textures held: ${
        MiB([...encs.values()].reduce((s, e) => s + e.scratchBytes, 0))
      }`,
    );
    warm = true;
    alloc.release(A);
    alloc.release(B);
    alloc.release(C);
  }
  console.log(
    `\nfirst call (compile + one product at ${shapes[0]?.name}): ${firstCall.join(", ")}`,
  );
  const backend = [...encs.values()].reduce((s, e) => s + e.backendBytes, 0);
  console.log(`encoder backend bytes at the end: ${MiB(backend)}`);
  for (const e of encs.values()) e.releaseScratch();
  alloc.trim();
  const best = variants.map((v) => results[`1024^3 NT ${v}`]).filter((x) => x !== undefined);
  if (best.length > 0) {
    const hi = Math.max(...best);
    const by = variants.find((v) => results[`1024^3 NT ${v}`] === hi);
    console.log(
      `verdict: 1024^3 NT at ${hi.toFixed(1)} GFLOP/s (${by}) vs the target ${TARGET_GFLOPS}: ${
        hi >= TARGET_GFLOPS ? "meets it" : `BELOW (${(hi / TARGET_GFLOPS * 100).toFixed(0)}%)`
      }`,
    );
  }
  return results;
}

if (import.meta.main) await main(Deno.args);

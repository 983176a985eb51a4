/**
 * Matmul throughput on the current adapter, every kernel variant side by side: GFLOP/s of the NT,
 * NN and TN layouts at 512^3, 1024^3, 2048^3 and the FFN shape (M=4096, K=1024, N=4096).
 * Run: `deno run -A bench/matmul.ts [--variants texture,blocked,tiled] [--shapes 512,1024,4096]
 * [--tiles 128x128x8/8x8/vec4/db,64x64x8/4x4/vec4] [--layouts NT,NN,TN,TT] [--dtypes f32,bf16]
 * [--timing wall|gpu|both] [--budget SECONDS] [--json FILE]`.
 * - Each variant runs on a view of the GPU whose kernel policy picks it; `tiled` runs once per
 *   tile of `--tiles` (default: the policy's tile, which TEMPO_KERNELS=tile=... changes).
 * - `--shapes` takes the names above by prefix, or a size N for an N^3 product.
 * - `--dtypes`: the storage type of A and B (f16 and bf16: 16-bit operands, f32 accumulation and
 *   C); one row per layout and dtype.
 * - `--peak` fraction: the GFLOP/s over the card's datasheet f32 rate (bench/peaks.ts), n/a for
 *   unknown adapters.
 * Method: per run, R calls of `matmul` are recorded back to back, then submit +
 * onSubmittedWorkDone is timed with performance.now() (`wall`: nothing subtracted, so each run
 * includes one completion poll, ~11 ms on the software adapter), and/or each call's dispatches
 * carry timestamps (`gpu`: the encoder's profiling mode; the sum of their passes' GPU time).
 * GFLOP/s = 2*M*N*K*R / time, median over runs. Everything a call dispatches is timed: for
 * `texture` that is the packing of op(A) and op(B)^T into textures too. On a software adapter R
 * is fixed per shape and `wall` is the default; elsewhere R is chosen from a timed call so that
 * a run lasts ~50 ms, and `both` is the default where the device has timestamps. Each (variant,
 * layout, dtype) is called once untimed at the first shape to compile its kernels, reported as
 * "first call" (compile + one product; the Mesa disk cache may make it faster than a cold CI
 * compile). On a software adapter `tiled` is skipped above 1024^3 (it runs at a few GFLOP/s).
 * Inputs are random (never zeros). The scratch-texture bytes the encoder holds after each shape
 * are printed: they are backend memory, not part of any tensor category.
 * @module
 */
import { Allocator } from "../core/allocator.ts";
import type { FloatDType } from "../core/dtype.ts";
import { Encoder } from "../core/encoder.ts";
import { acquireGpu, type Gpu, withKernels } from "../core/gpu.ts";
import { encodeHalves } from "../core/half.ts";
import {
  KERNEL_FAMILIES,
  type MatmulKernel,
  type MatmulTile,
  parseTile,
  tileText,
} from "../core/kernel_policy.ts";
import { matmul, type MatmulOptions } from "../core/ops/matmul/matmul.ts";
import type { Tensor } from "../core/tensor.ts";
import { peakOf } from "./peaks.ts";

/** One benchmark shape: sizes, timed runs, calls per run (on a software adapter). */
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

const LAYOUTS: Record<string, MatmulOptions> = {
  NT: { transB: true },
  NN: {},
  TN: { transA: true },
  TT: { transA: true, transB: true },
};

/** The target at 1024^3 (NT) on the software adapter, GFLOP/s. */
export const TARGET_GFLOPS = 30;

/** A kernel variant as a column: the family, and the tile for `tiled`. */
interface Variant {
  label: string;
  kernel: MatmulKernel;
  tile?: MatmulTile;
}

/** One measured cell. */
export interface MatmulResult {
  shape: string;
  M: number;
  N: number;
  K: number;
  layout: string;
  dtype: FloatDType;
  variant: string;
  tile?: string;
  /** Calls per timed run. */
  reps: number;
  /** GFLOP/s by the host clock (null: not measured). */
  wallGflops: number | null;
  /** GFLOP/s by the GPU's timestamps (null: not measured). */
  gpuGflops: number | null;
  /** The better-founded figure (gpu, else wall) over the card's f32 peak (null: unknown card). */
  peakFraction: number | null;
}

/** The whole run, as `--json` writes it. */
export interface MatmulReport {
  adapter: string;
  peak: { name: string; f32Tflops: number } | null;
  timing: string;
  results: MatmulResult[];
  /** Cells not run because `--budget` ran out. */
  skipped: string[];
  firstCallMs: Record<string, number>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

function randomValues(n: number, seed: number): Float32Array<ArrayBuffer> {
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

function shapesOf(only: string[] | undefined): Shape[] {
  if (!only) return SHAPES;
  return only.map((o) => {
    const known = SHAPES.find((s) => s.name.startsWith(o));
    if (known) return known;
    const n = Number(o);
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`--shapes: '${o}' is neither a size nor one of ${SHAPES.map((s) => s.name)}`);
    }
    return { name: `${n}^3`, M: n, N: n, K: n, runs: 3, reps: 1 };
  });
}

function variantsOf(gpu: Gpu, args: string[]): Variant[] {
  const kernels = (arg(args, "variants")?.split(",") ??
    (gpu.isSoftware
      ? ["texture", "blocked", "tiled"]
      : ["tiled", "blocked", "texture"])) as MatmulKernel[];
  const tiles = arg(args, "tiles")?.split(",").map((t) => parseTile(t, "--tiles")) ??
    [gpu.kernels.tile];
  const out: Variant[] = [];
  for (const k of kernels) {
    if (!KERNEL_FAMILIES.matmul.includes(k)) {
      throw new Error(`--variants: unknown '${k}'; valid: ${KERNEL_FAMILIES.matmul.join(", ")}`);
    }
    if (k !== "tiled") out.push({ label: k, kernel: k });
    else {
      for (const tile of tiles) {
        out.push({ label: tiles.length > 1 ? `tiled ${tileText(tile)}` : k, kernel: k, tile });
      }
    }
  }
  return out;
}

function upload(enc: Encoder, t: Tensor, seed: number): void {
  const v = randomValues(t.size, seed);
  enc.write(t, t.dtype === "f32" ? v : encodeHalves(t.dtype as "f16" | "bf16", v));
}

/** Run the benchmark and print the table; returns every cell (also written with --json). */
export async function main(args: string[] = []): Promise<MatmulReport> {
  const gpu = await acquireGpu();
  const alloc = new Allocator({ device: gpu.device });
  const variants = variantsOf(gpu, args);
  const layouts = (arg(args, "layouts") ?? "NT,NN,TN").split(",");
  for (const l of layouts) if (!(l in LAYOUTS)) throw new Error(`--layouts: unknown '${l}'`);
  const dtypes = (arg(args, "dtypes") ?? "f32").split(",") as FloatDType[];
  for (const d of dtypes) {
    if (!["f32", "f16", "bf16"].includes(d)) throw new Error(`--dtypes: unknown '${d}'`);
  }
  const timing = arg(args, "timing") ??
    (gpu.isSoftware ? "wall" : gpu.hasTimestamps ? "both" : "wall");
  if (!["wall", "gpu", "both"].includes(timing)) throw new Error(`--timing: unknown '${timing}'`);
  if (timing !== "wall" && !gpu.hasTimestamps) {
    throw new Error(`--timing ${timing}: ${gpu.description} has no 'timestamp-query'`);
  }
  const budgetMs = 1000 * Number(arg(args, "budget") ?? Infinity);
  const started = performance.now();
  const info = (await navigator.gpu.requestAdapter())?.info;
  const peak = peakOf([info?.vendor ?? "", info?.device ?? "", gpu.description]);
  // One encoder per variant, on a view of the GPU whose policy runs it for every product.
  const encs = new Map(variants.map((v) => [
    v.label,
    new Encoder(withKernels(gpu, { matmul: v.kernel, ...(v.tile ? { tile: v.tile } : {}) })),
  ]));
  const shapes = shapesOf(arg(args, "shapes")?.split(","));
  console.log(`adapter: ${gpu.description} (software: ${gpu.isSoftware})`);
  console.log(
    `method: per run, R matmul calls recorded back to back; ${
      timing === "gpu" ? "" : "wall: submit + onSubmittedWorkDone timed (nothing subtracted); "
    }${timing === "wall" ? "" : "gpu: sum of the calls' timestamped passes; "}` +
      "GFLOP/s = 2*M*N*K*R / time, median over runs (packing included); kernels compiled by an " +
      `untimed first call per variant, layout and dtype; f32 peak: ${
        peak ? `${peak.f32Tflops} TFLOP/s (${peak.name})` : "n/a"
      }`,
  );
  const report: MatmulReport = {
    adapter: gpu.description,
    peak,
    timing,
    results: [],
    skipped: [],
    firstCallMs: {},
  };
  const compiled = new Set<string>();
  const width = Math.max(9, ...variants.map((v) => v.label.length + 1));
  const cellText = (r: MatmulResult) => {
    const g = r.gpuGflops ?? r.wallGflops ?? 0;
    const text = timing === "both"
      ? `${r.gpuGflops!.toFixed(0)}/${r.wallGflops!.toFixed(0)}`
      : g.toFixed(1);
    return (r.peakFraction !== null ? `${text} ${(100 * r.peakFraction).toFixed(0)}%` : text)
      .padStart(width);
  };
  console.log(
    `\n${"shape".padEnd(27)}layout dtype ${variants.map((v) => v.label.padStart(width)).join("")}` +
      (timing === "both" ? "\n(cells: GPU-timestamp/wall GFLOP/s)" : ""),
  );
  for (const sh of shapes) {
    const { M, N, K } = sh;
    for (const dtype of dtypes) {
      const A = alloc.alloc([M * K], dtype, "workspace", "A");
      const B = alloc.alloc([K * N], dtype, "workspace", "B");
      const C = alloc.alloc([M * N], "f32", "workspace", "C");
      const enc0 = encs.get(variants[0].label)!;
      upload(enc0, A, 1);
      upload(enc0, B, 2);
      await enc0.sync();
      for (const layout of layouts) {
        const opts = LAYOUTS[layout];
        const cells: string[] = [];
        for (const v of variants) {
          const enc = encs.get(v.label)!;
          const key = `${sh.name} ${layout} ${dtype} ${v.label}`;
          if (v.kernel === "tiled" && gpu.isSoftware && M * N * K > 2 ** 30) {
            cells.push("-".padStart(width));
            continue;
          }
          if (performance.now() - started > budgetMs) {
            report.skipped.push(key);
            cells.push("skip".padStart(width));
            continue;
          }
          const ck = `${v.label} ${layout} ${dtype}`;
          if (!compiled.has(ck)) {
            const t0 = performance.now();
            matmul(enc, C, A, B, M, N, K, opts);
            await enc.sync();
            report.firstCallMs[ck] = performance.now() - t0;
            compiled.add(ck);
          }
          let reps = sh.reps;
          if (!gpu.isSoftware) {
            const t0 = performance.now();
            matmul(enc, C, A, B, M, N, K, opts);
            await enc.sync();
            reps = Math.max(1, Math.min(200, Math.round(50 / (performance.now() - t0))));
          }
          const wall: number[] = [], stamped: number[] = [];
          const flops = 2 * M * N * K * reps;
          for (let r = 0; r < sh.runs; r++) {
            if (timing !== "wall") enc.startProfile();
            for (let i = 0; i < reps; i++) matmul(enc, C, A, B, M, N, K, opts);
            const t0 = performance.now();
            if (timing !== "wall") {
              const ns = (await enc.stopProfile()).reduce((s, d) => s + d.ns, 0);
              stamped.push(flops / ns);
            } else await enc.sync();
            // A profiled run's wall time includes a pass per dispatch; measured without it too.
            if (timing === "both") {
              for (let i = 0; i < reps; i++) matmul(enc, C, A, B, M, N, K, opts);
              const t1 = performance.now();
              await enc.sync();
              wall.push(flops / ((performance.now() - t1) / 1000) / 1e9);
            } else if (timing === "wall") {
              wall.push(flops / ((performance.now() - t0) / 1000) / 1e9);
            }
          }
          const gpuGflops = stamped.length ? median(stamped) : null;
          const wallGflops = wall.length ? median(wall) : null;
          const best = gpuGflops ?? wallGflops!;
          const r: MatmulResult = {
            shape: sh.name,
            M,
            N,
            K,
            layout,
            dtype,
            variant: v.kernel,
            tile: v.tile ? tileText(v.tile) : undefined,
            reps,
            wallGflops,
            gpuGflops,
            peakFraction: peak ? best / (1000 * peak.f32Tflops) : null,
          };
          report.results.push(r);
          cells.push(cellText(r));
        }
        console.log(`${sh.name.padEnd(27)}${layout.padEnd(7)}${dtype.padEnd(6)}${cells.join("")}`);
      }
      alloc.release(A);
      alloc.release(B);
      alloc.release(C);
    }
    console.log(
      `${"".padEnd(27)}runs ${sh.runs}${gpu.isSoftware ? ` x ${sh.reps}` : ""}; ` +
        `scratch textures held: ${MiB([...encs.values()].reduce((s, e) => s + e.scratchBytes, 0))}`,
    );
  }
  const first = Object.entries(report.firstCallMs).map(([k, ms]) => `${k} ${ms.toFixed(0)} ms`);
  console.log(`\nfirst call (compile + one product at ${shapes[0]?.name}): ${first.join(", ")}`);
  if (report.skipped.length) {
    console.log(`skipped (--budget ran out): ${report.skipped.length} cells`);
  }
  const backend = [...encs.values()].reduce((s, e) => s + e.backendBytes, 0);
  console.log(`encoder backend bytes at the end: ${MiB(backend)}`);
  for (const e of encs.values()) e.releaseScratch();
  alloc.trim();
  const nt = report.results.filter((r) => r.shape === "1024^3" && r.layout === "NT");
  if (gpu.isSoftware && nt.length > 0) {
    const best = nt.reduce((a, b) => ((b.wallGflops ?? 0) > (a.wallGflops ?? 0) ? b : a));
    const hi = best.wallGflops ?? 0;
    console.log(
      `verdict: 1024^3 NT at ${
        hi.toFixed(1)
      } GFLOP/s (${best.variant}) vs the target ${TARGET_GFLOPS}: ${
        hi >= TARGET_GFLOPS ? "meets it" : `BELOW (${(hi / TARGET_GFLOPS * 100).toFixed(0)}%)`
      }`,
    );
  }
  const json = arg(args, "json");
  if (json) await Deno.writeTextFile(json, JSON.stringify(report, null, 1));
  return report;
}

if (import.meta.main) await main(Deno.args);

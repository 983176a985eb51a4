/**
 * Matmul throughput on the current adapter: GFLOP/s of the NT, NN and TN layouts at 512^3,
 * 1024^3, 2048^3 and the FFN shape (M=4096, K=1024, N=4096). Run: `deno run -A bench/matmul.ts`.
 * Method: per run, R dispatches are recorded back to back, then submit + onSubmittedWorkDone is
 * timed with performance.now() (nothing subtracted); the figure is the median over runs of
 * 2*M*N*K*R / time. Pipelines are compiled by a warm-up at the first shape (the same kernels
 * serve every shape). A last probe times the same register-blocked NT product reading
 * rgba32float textures instead of storage buffers (not used by `matmul`; see the output).
 * @module
 */
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { acquireGpu, type Gpu } from "../core/gpu.ts";
import { matmul, type MatmulOptions } from "../core/ops/matmul.ts";

/** One benchmark shape: sizes, timed runs, dispatches per run. */
interface Shape {
  name: string;
  M: number;
  N: number;
  K: number;
  runs: number;
  reps: number;
}

const SHAPES: Shape[] = [
  { name: "512^3", M: 512, N: 512, K: 512, runs: 5, reps: 2 },
  { name: "1024^3", M: 1024, N: 1024, K: 1024, runs: 5, reps: 2 },
  { name: "2048^3", M: 2048, N: 2048, K: 2048, runs: 3, reps: 1 },
  { name: "FFN 4096x1024 @ 1024x4096", M: 4096, N: 4096, K: 1024, runs: 2, reps: 1 },
];

const LAYOUTS: [string, MatmulOptions][] = [
  ["NT", { transB: true }],
  ["NN", {}],
  ["TN", { transA: true }],
];

/** The target at 1024^3 on the software adapter, GFLOP/s. */
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

/**
 * GFLOP/s of a 1024^3 NT product with the matmul's software-adapter blocking (16x16 outputs per
 * invocation, 8x8 workgroups, dot of vec4 pairs) but operands read from rgba32float textures:
 * on llvmpipe a storage-buffer load is a per-lane loop, a texture fetch is vectorised.
 */
async function textureProbe(gpu: Gpu, S = 1024, runs = 3): Promise<number> {
  const device = gpu.device;
  const TM = 16, TN = 16;
  const tex = (seed: number) => {
    const t = device.createTexture({
      size: [S / 4, S],
      format: "rgba32float",
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
    });
    device.queue.writeTexture({ texture: t }, randomF32(S * S, seed), { bytesPerRow: S * 4 }, [
      S / 4,
      S,
    ]);
    return t;
  };
  const ta = tex(1), tb = tex(2);
  const c = device.createBuffer({ size: S * S * 4, usage: GPUBufferUsage.STORAGE });
  const L: string[] = [`let n0 = gid.x * ${TN}u; let m0 = gid.y * ${TM}u;`];
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) L.push(`var c${i}_${j} = 0.0;`);
  L.push(`for (var k4 = 0u; k4 < ${S / 4}u; k4++) {`);
  for (let i = 0; i < TM; i++) L.push(`let a${i} = textureLoad(A, vec2u(k4, m0 + ${i}u), 0);`);
  for (let j = 0; j < TN; j++) L.push(`let b${j} = textureLoad(B, vec2u(k4, n0 + ${j}u), 0);`);
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN; j++) L.push(`c${i}_${j} += dot(a${i}, b${j});`);
  }
  L.push("}");
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN; j++) L.push(`C[(m0 + ${i}u) * ${S}u + n0 + ${j}u] = c${i}_${j};`);
  }
  const code = `@group(0) @binding(0) var A: texture_2d<f32>;
@group(0) @binding(1) var B: texture_2d<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@compute @workgroup_size(8, 8) fn main(@builtin(global_invocation_id) gid: vec3u) {
${L.join("\n")}
}`;
  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module: device.createShaderModule({ code }), entryPoint: "main" },
  });
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: ta.createView() },
      { binding: 1, resource: tb.createView() },
      { binding: 2, resource: { buffer: c } },
    ],
  });
  const run = async () => {
    const e = device.createCommandEncoder();
    const p = e.beginComputePass();
    p.setPipeline(pipeline);
    p.setBindGroup(0, group);
    p.dispatchWorkgroups(S / (8 * TN), S / (8 * TM));
    p.end();
    device.queue.submit([e.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  await run();
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await run();
    rates.push((2 * S ** 3) / ((performance.now() - t0) / 1000) / 1e9);
  }
  ta.destroy();
  tb.destroy();
  c.destroy();
  return median(rates);
}

/** Run the benchmark and print the table; returns GFLOP/s keyed "<shape> <layout>". */
export async function main(): Promise<Record<string, number>> {
  const gpu = await acquireGpu();
  const alloc = new Allocator({ device: gpu.device });
  const enc = new Encoder(gpu);
  console.log(`adapter: ${gpu.description} (software: ${gpu.isSoftware})`);
  console.log(
    "method: per run, R dispatches recorded back to back, then submit + onSubmittedWorkDone " +
      "timed (nothing subtracted); GFLOP/s = 2*M*N*K*R / time, median over runs; kernels " +
      "compiled by an untimed warm-up at the first shape",
  );
  const results: Record<string, number> = {};
  let warm = false;
  for (const sh of SHAPES) {
    const { M, N, K } = sh;
    const A = alloc.alloc([M * K], "f32", "workspace", "A");
    const B = alloc.alloc([K * N], "f32", "workspace", "B");
    const C = alloc.alloc([M * N], "f32", "workspace", "C");
    enc.write(A, randomF32(M * K, 1));
    enc.write(B, randomF32(K * N, 2));
    const row: string[] = [];
    for (const [name, opts] of LAYOUTS) {
      if (!warm) {
        matmul(enc, C, A, B, M, N, K, opts);
        await enc.sync();
      }
      const rates: number[] = [];
      for (let r = 0; r < sh.runs; r++) {
        for (let i = 0; i < sh.reps; i++) matmul(enc, C, A, B, M, N, K, opts);
        const t0 = performance.now();
        await enc.sync();
        rates.push((2 * M * N * K * sh.reps) / ((performance.now() - t0) / 1000) / 1e9);
      }
      const g = median(rates);
      results[`${sh.name} ${name}`] = g;
      row.push(`${name} ${g.toFixed(1).padStart(6)}`);
    }
    warm = true;
    console.log(
      `${sh.name.padEnd(26)} GFLOP/s  ${row.join("   ")}   (runs ${sh.runs} x ${sh.reps})`,
    );
    alloc.release(A);
    alloc.release(B);
    alloc.release(C);
  }
  alloc.trim();
  if (gpu.isSoftware) {
    const t = await textureProbe(gpu);
    results["texture probe 1024^3 NT"] = t;
    console.log(
      `probe: 1024^3 NT, same 16x16 blocking, operands in rgba32float textures: ${
        t.toFixed(1)
      } GFLOP/s (not used by matmul: needs texture bindings in kernel.ts / encoder.ts)`,
    );
  }
  const at = LAYOUTS.map(([n]) => results[`1024^3 ${n}`]);
  const lo = Math.min(...at), hi = Math.max(...at);
  console.log(
    `verdict: 1024^3 at ${lo.toFixed(1)}-${hi.toFixed(1)} GFLOP/s over NT/NN/TN vs the target ` +
      `${TARGET_GFLOPS}: ${
        lo >= TARGET_GFLOPS
          ? "meets it"
          : hi >= TARGET_GFLOPS
          ? "meets it on some layouts"
          : `BELOW (${(hi / TARGET_GFLOPS * 100).toFixed(0)}% of it at best)`
      }`,
  );
  return results;
}

if (import.meta.main) await main();

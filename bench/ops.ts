/**
 * Row/column/elementwise kernels of a training step, before and after the software-adapter
 * variants: ms per call of each kernel at the tiny GPT-2 shapes (B=8, T=64, C=64, NH=4, 2 layers,
 * V=260: calls per step as in one measured training step) and at bert-base-like shapes (B=4,
 * T=128, C=768, NH=12, FFN=3072, V=30522), for the "gpu" kernels (the policy of a real GPU: one
 * workgroup per row; what every adapter ran before) and the "auto" choice (the adapter's kernel
 * policy, TEMPO_KERNELS included; on a software adapter, the software variants).
 * Run: `deno run -A bench/ops.ts [--runs 5] [--target-ms 150] [--only <regexp>]`.
 *
 * Method: a kernel is isolated by an encoder that drops every other dispatch of the op (e.g. the
 * dgamma/dbeta kernel of the LayerNorm backward is timed apart from its dx kernel). Per run, `reps`
 * calls are recorded into one submit and `submit + onSubmittedWorkDone` is timed; the sync floor
 * (the same with nothing recorded, ~11 ms on llvmpipe) is subtracted and the rest divided by reps.
 * reps is calibrated per kernel and mode so a run lasts about --target-ms; runs alternate between
 * before and after (other load on the machine hits both alike); the figures are the median over
 * runs and, as a check on load from other processes, the minimum. The step total sums calls x ms
 * over the kernels of the profiled slow list (Tempo GELU forward is shown but not counted).
 * Kernels are compiled by an untimed warm-up call.
 * @module
 */
import { maskedPerSeq } from "../core/train/batch.ts";
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { acquireGpu, type Gpu, withKernels } from "../core/gpu.ts";
import type { KernelSpec } from "../core/kernel.ts";
import { defaultKernels, type KernelOverrides } from "../core/kernel_policy.ts";
import type { Tensor } from "../core/tensor.ts";
import { softmaxBackward, softmaxForward } from "../core/ops/softmax.ts";
import { layernormBackward, layernormForward } from "../core/ops/layernorm.ts";
import { layernormTempoBackward } from "../core/ops/layernorm_tempo.ts";
import { crossEntropy } from "../core/ops/cross_entropy.ts";
import { addBias, sumRows } from "../core/ops/bias.ts";
import { dropoutForward } from "../core/ops/dropout.ts";
import { geluTempoBackward, geluTempoForward } from "../core/ops/gelu_tempo.ts";

/** An encoder that records only the dispatches whose kernel name matches `only`. */
class FilterEncoder extends Encoder {
  only: RegExp | null = null;

  override dispatch(
    spec: KernelSpec,
    bindings: Parameters<Encoder["dispatch"]>[1],
    uniforms: Record<string, number>,
    groups: readonly [number, number?, number?],
  ): void {
    if (this.only && !this.only.test(spec.name)) return;
    super.dispatch(spec, bindings, uniforms, groups);
  }
}

/** "gpu": the kernels of a real GPU's policy (what every adapter ran before); "auto": the adapter's. */
type Mode = "gpu" | "auto";

/** The policy of a real GPU, for the "gpu" mode. */
const GPU_KERNELS = defaultKernels({ isSoftware: false });

/** One benchmark case. */
interface Case {
  /** Kernel (family) name as reported. */
  kernel: string;
  /** Shape label. */
  shape: string;
  /** Which preset: tiny (with calls per step) or bert. */
  preset: "tiny" | "bert";
  /** Calls per training step (tiny preset). */
  calls: number;
  /** Counted in the step total of the profiled slow kernels (default true). */
  listed?: boolean;
  /** Kernel names to keep (others of the op are dropped). */
  only: RegExp;
  /** The "gpu" mode's override of the policy: the op family's kernel on a real GPU. */
  gpuKernels: KernelOverrides;
  /** Allocate and fill inputs; returns the call to time. */
  setup(ctx: Ctx): (enc: Encoder) => void;
}

interface Ctx {
  gpu: Gpu;
  alloc: Allocator;
  enc: Encoder;
  /** A seeded f32 tensor of `n` elements, values ~ N(0, scale^2)-ish, plus `shift`. */
  f32(n: number, scale?: number, shift?: number): Tensor;
  /** An i32 tensor. */
  i32(data: Int32Array): Tensor;
  /** A u32 tensor of n words filled with pseudo-random bits. */
  u32(n: number): Tensor;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

/** Softmax over rows x cols (causal: GPT-2 attention; pad: BERT with a key-padding mask). */
function softmaxCases(
  preset: "tiny" | "bert",
  rows: number,
  cols: number,
  calls: number,
  causal: boolean,
): Case[] {
  const shape = `rows=${rows} cols=${cols}${causal ? " causal" : " pad"}`;
  const opts = (ctx: Ctx, P: Tensor) => {
    const B = rows / (cols * (preset === "tiny" ? 4 : 12));
    const pad = causal ? null : ctx.i32(new Int32Array(B * cols).fill(1));
    return { scale: 0.25, causal, T: cols, padMask: pad, rowsPerBatch: rows / B, P };
  };
  return [
    {
      kernel: "softmax_fwd (in place)",
      shape,
      preset,
      calls,
      only: /^softmax_fwd/,
      gpuKernels: { softmax: GPU_KERNELS.softmax },
      setup(ctx) {
        const P = ctx.f32(rows * cols, 2);
        const o = opts(ctx, P);
        return (enc) => softmaxForward(enc, { S: P, rows, cols, ...o });
      },
    },
    {
      kernel: "softmax_bwd (in place)",
      shape,
      preset,
      calls,
      only: /^softmax_bwd/,
      gpuKernels: { softmax: GPU_KERNELS.softmax },
      setup(ctx) {
        const P = ctx.f32(rows * cols, 0.01, 0.01), dP = ctx.f32(rows * cols);
        return (enc) => softmaxBackward(enc, { dS: dP, dP, P, rows, cols, scale: 0.25 });
      },
    },
  ];
}

/** LayerNorm forward (with mean), Tempo backward (dx and params apart), baseline backward. */
function layernormCases(preset: "tiny" | "bert", R: number, C: number, calls: number): Case[] {
  const shape = `R=${R} C=${C}`;
  const common = { shape, preset, gpuKernels: { layernorm: GPU_KERNELS.layernorm } };
  const inputs = (ctx: Ctx) => ({
    x: ctx.f32(R * C, 2, 0.5),
    y: ctx.f32(R * C),
    dy: ctx.f32(R * C),
    dx: ctx.f32(R * C),
    gamma: ctx.f32(C, 0.2, 1),
    beta: ctx.f32(C, 0.2),
    dgamma: ctx.f32(C),
    dbeta: ctx.f32(C),
    mean: ctx.f32(R),
    rstd: ctx.f32(R, 0.1, 1),
  });
  const tempo = (only: RegExp, kernel: string): Case => ({
    kernel,
    ...common,
    calls,
    only,
    setup(ctx) {
      const t = inputs(ctx);
      const { dx, dgamma, dbeta, dy, y, rstd, gamma, beta } = t;
      return (enc) =>
        layernormTempoBackward(enc, { dx, dgamma, dbeta, dy, y, rstd, gamma, beta, R, C });
    },
  });
  return [
    {
      kernel: "layernorm_fwd_mean",
      ...common,
      calls,
      only: /^layernorm_fwd/,
      setup(ctx) {
        const t = inputs(ctx);
        const { y, mean, rstd, x, gamma, beta } = t;
        return (enc) => layernormForward(enc, { y, mean, rstd, x, gamma, beta, R, C, eps: 1e-5 });
      },
    },
    tempo(/^layernorm_tempo_bwd_dx/, "layernorm_tempo_bwd_dx"),
    tempo(/^layernorm_tempo_bwd_params/, "layernorm_tempo_bwd_params"),
    {
      kernel: "layernorm_bwd (dx + params)",
      ...common,
      calls: 0,
      only: /^layernorm_bwd/,
      setup(ctx) {
        const t = inputs(ctx);
        const { dx, dgamma, dbeta, dy, x, mean, rstd, gamma } = t;
        return (enc) =>
          layernormBackward(enc, { dx, dgamma, dbeta, dy, x, mean, rstd, gamma, R, C });
      },
    },
  ];
}

/** Cross-entropy over R rows of V logits (gradient written over the logits). */
function crossEntropyCase(preset: "tiny" | "bert", R: number, V: number, calls: number): Case {
  return {
    kernel: "cross_entropy",
    shape: `R=${R} V=${V}`,
    preset,
    calls,
    only: /^cross_entropy/,
    gpuKernels: { crossEntropy: GPU_KERNELS.crossEntropy },
    setup(ctx) {
      const logits = ctx.f32(R * V, 3), losses = ctx.f32(R);
      const t = Int32Array.from({ length: R }, (_, i) => (i * 7919) % V);
      const targets = ctx.i32(t);
      return (enc) => crossEntropy(enc, { losses, logits, targets, N: R, V, gradScale: 1 / R });
    },
  };
}

/** addBias and sumRows (beta 1, as the Linear backward accumulates) over [rows, n]. */
function biasCases(preset: "tiny" | "bert", rows: number, n: number, calls: number): Case[] {
  const common = {
    shape: `rows=${rows} n=${n}`,
    preset,
    calls,
    gpuKernels: { bias: GPU_KERNELS.bias },
  };
  return [
    {
      kernel: "add_bias",
      ...common,
      only: /^add_bias/,
      setup(ctx) {
        const y = ctx.f32(rows * n), b = ctx.f32(n, 1e-3);
        return (enc) => addBias(enc, { y, bias: b, rows, n });
      },
    },
    {
      kernel: "sum_rows",
      ...common,
      only: /^sum_rows/,
      setup(ctx) {
        const x = ctx.f32(rows * n), out = ctx.f32(n);
        return (enc) => sumRows(enc, { out, x, rows, n, beta: 1 });
      },
    },
  ];
}

/** Dropout forward regenerating the mask from (seed, stream): the backward's kernel too. */
function dropoutCase(preset: "tiny" | "bert", n: number, calls: number, what: string): Case {
  return {
    kernel: "dropout_rng_none",
    shape: `n=${n} (${what})`,
    preset,
    calls,
    only: /^dropout_rng_none/,
    gpuKernels: {}, // a single kernel family (Philox-bound): both modes run the same kernels
    setup(ctx) {
      const x = ctx.f32(n), y = ctx.f32(n);
      return (enc) => dropoutForward(enc, { y, x, n, p: 0.1, seed: 1, stream: 1025 });
    },
  };
}

/** Tempo GELU (tanh form, bit mask) forward and backward over n elements. */
function geluCases(preset: "tiny" | "bert", n: number, calls: number): Case[] {
  const common = {
    shape: `n=${n} tanh bit`,
    preset,
    calls,
    gpuKernels: { geluTempo: GPU_KERNELS.geluTempo },
  };
  const inputs = (ctx: Ctx) => {
    const x = ctx.f32(n, 2), y = ctx.f32(n), dy = ctx.f32(n), dx = ctx.f32(n);
    const mask = ctx.u32(Math.ceil(n / 32));
    return { x, y, dy, dx, mask };
  };
  return [
    {
      kernel: "gelu_tempo_fwd",
      ...common,
      listed: false,
      only: /^gelu_tempo_fwd/,
      setup(ctx) {
        const t = inputs(ctx);
        const { y, mask, x } = t;
        return (enc) => geluTempoForward(enc, { y, mask, x, n, form: "tanh", maskDtype: "bit" });
      },
    },
    {
      kernel: "gelu_tempo_bwd",
      ...common,
      only: /^gelu_tempo_bwd/,
      setup(ctx) {
        const t = inputs(ctx);
        const { dx, dy, y, mask, x } = t, tanhBits = { form: "tanh", maskDtype: "bit" } as const;
        geluTempoForward(ctx.enc, { y, mask, x, n, ...tanhBits });
        return (enc) => geluTempoBackward(enc, { dx, dy, y, mask, n, ...tanhBits });
      },
    },
  ];
}

/** All cases: tiny GPT-2 (calls per step from one measured step), then bert-base-like shapes. */
export function cases(): Case[] {
  return [
    ...softmaxCases("tiny", 2048, 64, 2, true),
    ...layernormCases("tiny", 512, 64, 5),
    crossEntropyCase("tiny", 512, 260, 1),
    ...biasCases("tiny", 512, 256, 2),
    ...biasCases("tiny", 512, 192, 2),
    ...biasCases("tiny", 512, 64, 4),
    dropoutCase("tiny", 8 * 4 * 64 * 64, 6, "attention P"),
    dropoutCase("tiny", 512 * 64, 10, "N*C"),
    ...geluCases("tiny", 512 * 256, 2),
    ...softmaxCases("bert", 4 * 12 * 128, 128, 0, false),
    ...layernormCases("bert", 512, 768, 0),
    crossEntropyCase("bert", 4 * maskedPerSeq(128), 30522, 0),
    ...biasCases("bert", 512, 3072, 0),
    ...biasCases("bert", 512, 768, 0),
    dropoutCase("bert", 4 * 12 * 128 * 128, 0, "attention P"),
    dropoutCase("bert", 512 * 768, 0, "N*C"),
    ...geluCases("bert", 512 * 3072, 0),
  ];
}

/** ms of `reps` calls in one submit, sync floor subtracted, per call. */
async function timeRun(
  enc: FilterEncoder,
  call: (enc: Encoder) => void,
  reps: number,
  floor: number,
): Promise<number> {
  for (let i = 0; i < reps; i++) call(enc);
  const t0 = performance.now();
  await enc.sync();
  return Math.max(0, performance.now() - t0 - floor) / reps;
}

/**
 * Median ms per call of a case in both modes; runs alternate between the modes so that load from
 * other processes on the machine hits both alike.
 */
async function timeCase(
  c: Case,
  ctx: Ctx,
  enc: FilterEncoder,
  floor: number,
  runs: number,
  targetMs: number,
): Promise<{ med: Record<Mode, number>; min: Record<Mode, number> }> {
  const modes = ["gpu", "auto"] as const;
  // One encoder per mode: the "gpu" one runs on a view of the GPU with the family overridden.
  const encs: Record<Mode, FilterEncoder> = {
    gpu: new FilterEncoder(withKernels(ctx.gpu, c.gpuKernels)),
    auto: enc,
  };
  const calls = {} as Record<Mode, (enc: Encoder) => void>;
  const reps = {} as Record<Mode, number>;
  for (const m of modes) {
    const e = encs[m];
    e.only = c.only;
    const call = calls[m] = c.setup(ctx);
    await ctx.enc.sync(); // the setup's uploads
    call(e); // warm-up: compile
    await e.sync();
    const est = Math.max(0.005, await timeRun(e, call, 1, floor));
    reps[m] = Math.max(1, Math.min(2000, Math.round(targetMs / est)));
  }
  const per: Record<Mode, number[]> = { gpu: [], auto: [] };
  for (let r = 0; r < runs; r++) {
    for (const m of modes) per[m].push(await timeRun(encs[m], calls[m], reps[m], floor));
  }
  enc.only = null;
  return {
    med: { gpu: median(per.gpu), auto: median(per.auto) },
    min: { gpu: Math.min(...per.gpu), auto: Math.min(...per.auto) },
  };
}

/** Run the benchmark and print the table; returns ms per call keyed "<kernel> <shape> <mode>". */
export async function main(args: string[] = []): Promise<Record<string, number>> {
  const arg = (k: string, d: string) => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 ? args[i + 1] : d;
  };
  const runs = Number(arg("runs", "5")), targetMs = Number(arg("target-ms", "150"));
  const only = new RegExp(arg("only", "."));
  const gpu = await acquireGpu();
  const alloc = new Allocator({ device: gpu.device });
  const enc = new FilterEncoder(gpu);
  const next = lcg(12345);
  const held: Tensor[] = [];
  const hold = (t: Tensor) => (held.push(t), t);
  const ctx: Ctx = {
    gpu,
    alloc,
    enc,
    f32(n, scale = 1, shift = 0) {
      const t = hold(alloc.alloc([n], "f32", "workspace", "x"));
      const d = new Float32Array(n);
      for (let i = 0; i < n; i++) d[i] = shift + scale * ((next() / 4294967296) * 3.4 - 1.7);
      enc.write(t, d);
      return t;
    },
    i32(data) {
      const t = hold(alloc.alloc([data.length], "i32", "workspace", "i"));
      enc.write(t, data);
      return t;
    },
    u32(n) {
      const t = hold(alloc.alloc([n], "u32", "workspace", "u"));
      enc.write(t, Uint32Array.from({ length: n }, () => next()));
      return t;
    },
  };
  await enc.sync();
  const floors: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    await enc.sync();
    floors.push(performance.now() - t0);
  }
  const floor = median(floors);
  console.log(`adapter: ${gpu.description} (software: ${gpu.isSoftware})`);
  console.log(
    `method: reps calls in one submit, timed to onSubmittedWorkDone, minus the sync floor ` +
      `${floor.toFixed(1)} ms, / reps; median (and min) of ${runs} runs of ~${targetMs} ms, ` +
      `before/after runs alternating`,
  );
  const results: Record<string, number> = {};
  const totals = { med: { gpu: 0, auto: 0 }, min: { gpu: 0, auto: 0 } };
  let preset = "";
  for (const c of cases()) {
    if (!only.test(`${c.kernel} ${c.shape}`)) continue;
    if (c.preset !== preset) {
      preset = c.preset;
      console.log(
        preset === "tiny"
          ? "\ntiny GPT-2 (B=8 T=64 C=64 NH=4 L=2 V=260): ms per call, calls per step"
          : "\nbert-base-like (B=4 T=128 C=768 NH=12 FFN=3072 V=30522): ms per call",
      );
      console.log(
        `${"kernel".padEnd(30)} ${"shape".padEnd(26)} ${"before".padStart(8)} ${
          "after".padStart(7)
        } ${"x".padStart(5)} | ${"min bef".padStart(7)} ${"aft".padStart(6)} ${"x".padStart(5)}${
          preset === "tiny" ? " | calls  step ms before -> after" : ""
        }`,
      );
    }
    const t = await timeCase(c, ctx, enc, floor, runs, targetMs);
    const ms = t.med;
    for (const m of ["gpu", "auto"] as const) results[`${c.kernel} ${c.shape} ${m}`] = ms[m];
    const x = (r: Record<Mode, number>) => (r.gpu / Math.max(r.auto, 1e-6)).toFixed(1).padStart(5);
    let line = `${c.kernel.padEnd(30)} ${c.shape.padEnd(26)} ${ms.gpu.toFixed(3).padStart(8)} ${
      ms.auto.toFixed(3).padStart(7)
    } ${x(ms)} | ${t.min.gpu.toFixed(3).padStart(7)} ${t.min.auto.toFixed(3).padStart(6)} ${
      x(t.min)
    }`;
    if (c.preset === "tiny") {
      if (c.listed !== false) {
        for (const k of ["med", "min"] as const) {
          totals[k].gpu += c.calls * t[k].gpu;
          totals[k].auto += c.calls * t[k].auto;
        }
      }
      line += ` | ${String(c.calls).padStart(5)}  ${(c.calls * ms.gpu).toFixed(2).padStart(6)} -> ${
        (c.calls * ms.auto).toFixed(2)
      }${c.listed === false ? " (not in the total)" : ""}`;
    }
    console.log(line);
    await enc.sync();
    for (const t of held.splice(0)) alloc.release(t);
    alloc.trim();
    enc.clearCache();
  }
  if (totals.med.gpu > 0) {
    const line = (r: { gpu: number; auto: number }) =>
      `${r.gpu.toFixed(1)} ms -> ${r.auto.toFixed(1)} ms (${(r.gpu / r.auto).toFixed(1)}x)`;
    console.log(
      `\ntiny step total of the profiled kernels (calls x ms): medians ${line(totals.med)}; ` +
        `minima ${line(totals.min)}`,
    );
  }
  return results;
}

if (import.meta.main) await main(Deno.args);

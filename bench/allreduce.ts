/**
 * The gradient all-reduce's share of a data-parallel step, at 2 ranks on this machine, side by
 * side with the 1-rank step (the same per-rank batch), for gpt2-tiny and a bert-base-shaped
 * model (fewer layers):
 *
 * - 1 rank: a single process's step (medians);
 * - 2 ranks: the data-parallel step under `mpirun --bind-to none -np 2`, and within it the time
 *   from the gradients' arrival on the host to their write-back (what the step waits for), the
 *   time inside MPI_Allreduce, and MPI_Allreduce alone on a host buffer of the gradients' size;
 * - overlap: each rank runs single-process steps while a loop of all-reduces of the gradients'
 *   size runs beside them, against each alone. Where neither slows the other (a GPU computing,
 *   a network card moving bytes), an all-reduce overlapped with backward hides its time; where
 *   both slow down (lavapipe's "GPU" is the CPUs that MPI copies with), overlapping saves
 *   nothing.
 *
 * Run: deno run -A bench/allreduce.ts [--steps N] [--layers 2] [--only gpt2|bert]
 * (it starts mpirun itself; Open MPI as root needs OMPI_ALLOW_RUN_AS_ROOT=1 and
 * OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1).
 * @module
 */
import type { Collectives } from "../core/collectives/collectives.ts";
import { detectLaunch } from "../core/collectives/launcher.ts";
import { openCollectives } from "../core/collectives/open.ts";
import { acquireGpu, type Gpu } from "../core/gpu.ts";
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { Trainer } from "../core/train/trainer.ts";
import { ALL_TEMPO } from "../layers/tempo_options.ts";
import { type ModelConfig, resolveConfig } from "../models/config.ts";
import { syntheticSource, trainDefaults } from "../models/plan.ts";
import { Transformer } from "../models/transformer.ts";

interface Case {
  cfg: ModelConfig;
  B: number;
  T: number;
  steps: number;
}

function cases(args: string[]): Case[] {
  const arg = (k: string, d: number) => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 ? Number(args[i + 1]) : d;
  };
  const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : "";
  const steps = args.includes("--steps") ? arg("steps", 5) : null;
  return [
    { cfg: resolveConfig("gpt2-tiny"), B: 8, T: 64, steps: steps ?? 41 },
    {
      cfg: resolveConfig("bert-base", { layers: arg("layers", 2), vocabSize: 30522 }),
      B: 4,
      T: 128,
      steps: steps ?? 5,
    },
  ].filter((c) => !only || c.cfg.name.startsWith(only));
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

/** A trainer on synthetic batches (`comm` for data parallel), after one warm-up step. */
async function setup(gpu: Gpu, c: Case, comm?: Collectives) {
  const alloc = new Allocator({ device: gpu.device });
  const enc = new Encoder(gpu);
  const shape = { batch: c.B, seqLen: c.T };
  const model = new Transformer(c.cfg, shape, ALL_TEMPO, alloc);
  model.initialize(enc, 1);
  const trainer = new Trainer(model, alloc, enc, { ...trainDefaults(shape), collectives: comm });
  const src = syntheticSource(c.cfg, shape, 1 + (comm?.rank ?? 0));
  await trainer.step(src);
  await enc.sync();
  return { trainer, src, alloc, enc };
}

/** ms of each of `n` steps, one at a time. */
async function timeSteps(t: Awaited<ReturnType<typeof setup>>, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await t.trainer.step(t.src);
    ms.push(performance.now() - t0);
  }
  return ms;
}

/** One rank's figures for a case (rank 0's are printed). */
interface RankFigures {
  name: string;
  gradientBytes: number;
  dpStepMs: number;
  tailMs: number;
  mpiInStepMs: number;
  mpiAloneMs: number;
  singleStepMs: number;
  overlapStepMs: number;
  overlapReduceMs: number;
}

async function worker(args: string[]): Promise<void> {
  const comm = openCollectives();
  const gpu = await acquireGpu();
  for (const c of cases(args)) {
    // The data-parallel step.
    const dp = await setup(gpu, c, comm);
    const before = { ...dp.trainer.reduceStats! };
    const dpMs = await timeSteps(dp, c.steps);
    const st = dp.trainer.reduceStats!;
    const perStep = (k: "tailMs" | "mpiMs") => (st[k] - before[k]) / (st.steps - before.steps);
    const bytes = st.bytes;
    dp.alloc.trim();
    dp.enc.releaseScratch();
    // MPI alone on a host buffer of the gradients' size.
    const host = new Float32Array(bytes / 4).fill(1);
    const alone: number[] = [];
    for (let i = 0; i < Math.max(5, c.steps); i++) {
      const t0 = performance.now();
      await comm.allReduce(host, "sum", "the benchmark's all-reduce");
      alone.push(performance.now() - t0);
    }
    // Overlap: single-process steps with a loop of all-reduces beside them (every rank alike).
    const single = await setup(gpu, c);
    const singleMs = await timeSteps(single, c.steps);
    // The loop's last element says whether a rank's steps are still running: all ranks stop
    // at the same iteration (every all-reduce is matched by every rank's).
    const flagged = new Float32Array(bytes / 4 + 1).fill(1);
    let running = true;
    const during: number[] = [];
    const loop = (async () => {
      while (true) {
        flagged[flagged.length - 1] = running ? 1 : 0;
        const t0 = performance.now();
        await comm.allReduce(flagged, "sum", "the benchmark's overlapped all-reduce");
        if (flagged[flagged.length - 1] < comm.size) break;
        during.push(performance.now() - t0);
      }
    })();
    const overlapMs = await timeSteps(single, c.steps);
    running = false;
    await loop;
    single.alloc.trim();
    single.enc.releaseScratch();
    const f: RankFigures = {
      name: `${c.cfg.name} (L=${c.cfg.layers}, C=${c.cfg.hidden}) B=${c.B} T=${c.T}`,
      gradientBytes: bytes,
      dpStepMs: median(dpMs),
      tailMs: perStep("tailMs"),
      mpiInStepMs: perStep("mpiMs"),
      mpiAloneMs: median(alone),
      singleStepMs: median(singleMs),
      overlapStepMs: median(overlapMs),
      overlapReduceMs: median(during),
    };
    if (comm.rank === 0) console.log(JSON.stringify(f));
  }
  await comm.finalize();
  gpu.device.destroy();
}

async function orchestrate(args: string[]): Promise<void> {
  const gpu = await acquireGpu();
  console.log(`adapter: ${gpu.description}; medians; 2 ranks under mpirun --bind-to none -np 2`);
  const oneRank = new Map<string, number>();
  for (const c of cases(args)) {
    const t = await setup(gpu, c);
    const name = `${c.cfg.name} (L=${c.cfg.layers}, C=${c.cfg.hidden}) B=${c.B} T=${c.T}`;
    oneRank.set(name, median(await timeSteps(t, c.steps)));
    t.alloc.trim();
    t.enc.releaseScratch();
  }
  gpu.device.destroy();
  const self = new URL(import.meta.url).pathname;
  const r = await new Deno.Command("mpirun", {
    args: [
      "--bind-to",
      "none",
      "--oversubscribe",
      "-np",
      "2",
      Deno.execPath(),
      "run",
      "-A",
      self,
      "--worker",
      ...args,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!r.success) throw new Error(`mpirun failed (exit ${r.code})`);
  const lines = new TextDecoder().decode(r.stdout).split("\n").filter((l) => l.startsWith("{"));
  for (const f of lines.map((l) => JSON.parse(l)) as RankFigures[]) {
    const one = oneRank.get(f.name)!;
    const pct = (x: number) => `${((100 * x) / f.dpStepMs).toFixed(1)}%`;
    console.log(`\n${f.name}: ${(f.gradientBytes / 2 ** 20).toFixed(2)} MiB of gradients a rank`);
    console.log(
      `  1 rank      ${one.toFixed(1).padStart(8)} ms/step` +
        `\n  2 ranks     ${f.dpStepMs.toFixed(1).padStart(8)} ms/step (${
          (f.dpStepMs / one).toFixed(2)
        }x the 1-rank step; tokens/s ${(2 * one / f.dpStepMs).toFixed(2)}x)` +
        `\n  all-reduce  ${f.tailMs.toFixed(1).padStart(8)} ms/step after the gradients reach ` +
        `the host (${pct(f.tailMs)} of the step), ${f.mpiInStepMs.toFixed(1)} ms of it in ` +
        `MPI_Allreduce; alone on a host buffer ${f.mpiAloneMs.toFixed(1)} ms` +
        `\n  overlap     steps (1 rank's, on both ranks) ${f.singleStepMs.toFixed(1)} ms alone, ${
          f.overlapStepMs.toFixed(1)
        } ms beside all-reduces (${(f.overlapStepMs / f.singleStepMs).toFixed(2)}x); all-reduces ${
          f.mpiAloneMs.toFixed(1)
        } ms alone, ${f.overlapReduceMs.toFixed(1)} ms beside steps (${
          (f.overlapReduceMs / f.mpiAloneMs).toFixed(2)
        }x)`,
    );
  }
}

if (import.meta.main) {
  if (Deno.args.includes("--worker") || detectLaunch()) await worker(Deno.args);
  else await orchestrate(Deno.args);
}

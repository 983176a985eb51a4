/**
 * Training-step benchmark: ms/step, tokens/s and model FLOP/s for a tiny config and a
 * bert-base-shaped one (fewer layers), Tempo off and on at the same batch, side by side in one
 * run (all settings' models live at once; each round times a matmul of the FFN shape at the same
 * token count, the adapter's reference rate, then one step of each setting in turn; medians).
 * Targets: the step's model FLOP rate >= 70% of that matmul rate; Tempo's overhead <= 5%; fused
 * attention (all Tempo otherwise) within 1.25x of the all-Tempo step at the same batch.
 * Rounds: 101 for the tiny config (its ~70 ms steps vary by +-10 ms on a 2-core machine), 7 for the
 * bert-base shape; --steps sets both.
 * Run: deno run -A bench/train_step.ts [--layers 2] [--batch 4] [--seq 128] [--steps N]
 * [--only gpt2|bert]
 * @module
 */
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { acquireGpu, type Gpu } from "../core/gpu.ts";
import { matmul } from "../core/ops/matmul/matmul.ts";
import { type BatchSource, maskedPerSeq } from "../core/train/batch.ts";
import { Trainer } from "../core/train/trainer.ts";
import { ALL_TEMPO, BASELINE, tempoLabel, type TempoOptions } from "../layers/tempo_options.ts";
import { archOf } from "../models/arch.ts";
import { type ModelConfig, resolveConfig } from "../models/config.ts";
import { syntheticSource, trainDefaults } from "../models/plan.ts";
import { Transformer } from "../models/transformer.ts";

/** Model FLOPs of one training step (forward + backward = 3x forward; matmuls only). */
export function stepFlops(cfg: ModelConfig, B: number, T: number): number {
  const C = cfg.hidden, F = cfg.ffn, N = B * T, L = cfg.layers;
  const block = 2 * N * C * 3 * C + 2 * N * C * C + 2 * 2 * N * C * F + 2 * 2 * B * T * T * C;
  const lm = archOf(cfg).objective === "lm"; // MLM: logits at the masked rows, after a dense layer
  const R = lm ? N : B * maskedPerSeq(T);
  const head = 2 * R * C * cfg.vocabSize + (lm ? 0 : 2 * R * C * C);
  return 3 * (L * block + head);
}

/**
 * A model and trainer on synthetic batches, Tempo switches `tempo`, after one warm-up step (kernels
 * compiled, pools warm). `enc` may be a subclass (e.g. one that records the step's commands).
 */
export async function setup(
  gpu: Gpu,
  cfg: ModelConfig,
  B: number,
  T: number,
  tempo: TempoOptions,
  enc: Encoder = new Encoder(gpu),
): Promise<{ alloc: Allocator; enc: Encoder; trainer: Trainer; src: BatchSource }> {
  const alloc = new Allocator({ device: gpu.device });
  const shape = { batch: B, seqLen: T };
  const model = new Transformer(cfg, shape, tempo, alloc);
  model.initialize(enc, 1);
  const trainer = new Trainer(model, alloc, enc, trainDefaults(shape));
  const src = syntheticSource(cfg, shape);
  await trainer.step(src);
  await enc.sync();
  return { alloc, enc, trainer, src };
}

/** The reference product: op(A) [M,K] times B^T, B [N,K] (NT), with its buffers. */
function matmulProbe(gpu: Gpu, M: number, N: number, K: number) {
  const alloc = new Allocator({ device: gpu.device });
  const enc = new Encoder(gpu);
  const a = alloc.alloc([M, K], "f32", "workspace", "a");
  const b = alloc.alloc([N, K], "f32", "workspace", "b");
  const c = alloc.alloc([M, N], "f32", "workspace", "c");
  return {
    /** Seconds per call (two calls, then a sync, timed together). */
    async seconds(): Promise<number> {
      const t0 = performance.now();
      for (let i = 0; i < 2; i++) matmul(enc, c, a, b, M, N, K, { transB: true });
      await enc.sync();
      return (performance.now() - t0) / 1000 / 2;
    },
    dispose() {
      alloc.trim();
      enc.releaseScratch();
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

/**
 * ms/step of each Tempo setting and the reference matmul's GFLOP/s, measured side by side: the
 * settings' models all live at once and each round times the reference product, then one step of
 * each setting, in turn (the order rotating from round to round), so that drift in the machine's
 * speed (other processes, thermal) hits every figure alike. Medians over rounds.
 */
async function timeSteps(
  gpu: Gpu,
  cfg: ModelConfig,
  B: number,
  T: number,
  settings: readonly TempoOptions[],
  rounds: number,
): Promise<{ rate: number; rows: { ms: number; peak: number }[] }> {
  const M = B * T, N = cfg.ffn, K = cfg.hidden;
  const probe = matmulProbe(gpu, M, N, K);
  await probe.seconds(); // compile
  const runs = [];
  for (const t of settings) runs.push(await setup(gpu, cfg, B, T, t));
  const times: number[][] = settings.map(() => []);
  const peaks = settings.map(() => 0);
  const probeSeconds: number[] = [];
  for (let r = 0; r < rounds; r++) {
    probeSeconds.push(await probe.seconds());
    // The order rotates every round, so that no setting always follows the same one.
    for (let q = 0; q < runs.length; q++) {
      const i = (q + r) % runs.length, run = runs[i];
      const t0 = performance.now();
      const rec = await run.trainer.step(run.src);
      times[i].push(performance.now() - t0);
      peaks[i] = rec.memory.peak;
    }
  }
  probe.dispose();
  for (const run of runs) {
    run.alloc.trim();
    run.enc.releaseScratch();
  }
  return {
    rate: (2 * M * N * K) / median(probeSeconds) / 1e9,
    rows: times.map((ts, i) => ({ ms: median(ts), peak: peaks[i] })),
  };
}

/** Run the benchmark and print a table. */
export async function main(args: string[] = []): Promise<void> {
  const arg = (k: string, d: number) => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 ? Number(args[i + 1]) : d;
  };
  const steps = args.includes("--steps") ? arg("steps", 7) : null, layers = arg("layers", 2);
  const batch = arg("batch", 4), seq = arg("seq", 128);
  const gpu = await acquireGpu();
  console.log(
    `adapter: ${gpu.description}; medians over rounds (each: the reference matmul, then one ` +
      "step of each setting) after one warm-up step each",
  );
  const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : "";
  const cases: [ModelConfig, number, number][] = [
    [resolveConfig("gpt2-tiny"), 8, 64] as [ModelConfig, number, number],
    [resolveConfig("bert-base", { layers, vocabSize: 30522 }), batch, seq] as [
      ModelConfig,
      number,
      number,
    ],
  ].filter(([cfg]) => !only || cfg.name.startsWith(only));
  for (const [cfg, B, T] of cases) {
    const flops = stepFlops(cfg, B, T);
    const rounds = steps ?? (cfg.hidden < 256 ? 101 : 7);
    const settings = [
      BASELINE,
      { ...ALL_TEMPO, masks: "bits" as const },
      ALL_TEMPO,
      { ...ALL_TEMPO, attentionKind: "fused" as const },
    ];
    const { rate, rows: timed } = await timeSteps(gpu, cfg, B, T, settings, rounds);
    console.log(
      `\n${cfg.name} (L=${cfg.layers}, C=${cfg.hidden}), B=${B}, T=${T}: ${
        (flops / 1e9).toFixed(2)
      } GFLOP/step; ` +
        `matmul NT ${B * T}x${cfg.ffn}x${cfg.hidden}: ${rate.toFixed(1)} GFLOP/s; ${rounds} rounds`,
    );
    const rows: { label: string; ms: number; peak: number }[] = [];
    for (const [i, t] of settings.entries()) {
      const r = timed[i];
      rows.push({ label: tempoLabel(t), ...r });
      const gf = flops / (r.ms / 1000) / 1e9;
      console.log(
        `  ${tempoLabel(t).padEnd(36)} ${r.ms.toFixed(1).padStart(8)} ms/step  ${
          Math.round((B * T * 1000) / r.ms).toString().padStart(7)
        } tok/s  ` +
          `${gf.toFixed(1).padStart(6)} GFLOP/s (${
            ((100 * gf) / rate).toFixed(0)
          }% of matmul)  peak ${(r.peak / 2 ** 20).toFixed(1)} MiB`,
      );
    }
    const [fused, tempo] = [rows[3], rows[2]];
    console.log(
      `  ${fused.label}: ${(fused.ms / tempo.ms).toFixed(2)}x the ${tempo.label} step at the ` +
        `same batch, peak ${(tempo.peak / fused.peak).toFixed(2)}x lower`,
    );
    for (const r of rows.slice(1, 3)) {
      console.log(
        `  ${r.label}: Tempo overhead at the same batch ${
          ((r.ms / rows[0].ms - 1) * 100).toFixed(1)
        }%, ` +
          `peak ${(rows[0].peak / r.peak).toFixed(2)}x lower`,
      );
    }
  }
}

if (import.meta.main) await main(Deno.args);

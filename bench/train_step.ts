/**
 * Training-step benchmark: ms/step, tokens/s and model FLOP/s for a tiny config and a
 * bert-base-shaped one (fewer layers), Tempo off and on at the same batch, side by side in one
 * run (all settings' models live at once; each round times a matmul of the FFN shape at the same
 * token count, the adapter's reference rate, then one step of each setting in turn; medians).
 * Targets: the step's model FLOP rate >= 70% of that matmul rate; Tempo's overhead <= 5%; fused
 * attention (all Tempo otherwise) within 1.25x of the all-Tempo step at the same batch.
 * Rounds: 101 for the tiny config (its ~70 ms steps vary by +-10 ms on a 2-core machine), 7 for the
 * bert-base shape; --steps sets both.
 * `--model NAME` times that preset alone (e.g. bert-large --layers 24 --seq 512);
 * `--settings baseline,bits,regen,fused` picks the settings (all four by default: Tempo off, on
 * with bit masks, on with regenerated dropout masks, and that with fused attention); `--memory-limit 11GiB` runs each setting at its own
 * largest batch under that limit (`maxBatch`, planning mode) instead of `--batch`: the paper's
 * experiment (tokens/s side by side). `--precisions f32,bf16,f16` times every setting at each
 * precision (the activations' storage; f16 loss-scaled) in the same rounds, at the same batch.
 * `--json FILE` writes every case.
 * Run: deno run -A bench/train_step.ts [--layers 2] [--batch 4] [--seq 128] [--steps N]
 * [--only gpt2|bert] [--model NAME] [--settings LIST] [--precisions LIST] [--memory-limit SIZE]
 * [--json FILE]
 * @module
 */
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { acquireGpu, type Gpu } from "../core/gpu.ts";
import { matmul } from "../core/ops/matmul/matmul.ts";
import { type BatchSource, maskedPerSeq } from "../core/train/batch.ts";
import { Trainer } from "../core/train/trainer.ts";
import { GRAD_SCALER } from "../core/train/loss_scaler.ts";
import { parsePrecision, type Precision, scalesLoss } from "../core/precision.ts";
import { ALL_TEMPO, BASELINE, tempoLabel, type TempoOptions } from "../layers/tempo_options.ts";
import { archOf } from "../models/arch.ts";
import { type ModelConfig, resolveConfig } from "../models/config.ts";
import { maxBatch, syntheticSource, trainDefaults } from "../models/plan.ts";
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
  precision: Precision = "f32",
): Promise<{ alloc: Allocator; enc: Encoder; trainer: Trainer; src: BatchSource }> {
  const alloc = new Allocator({ device: gpu.device });
  const shape = { batch: B, seqLen: T };
  const model = new Transformer(cfg, shape, tempo, alloc, { precision });
  model.initialize(enc, 1);
  const trainer = new Trainer(model, alloc, enc, {
    ...trainDefaults(shape),
    lossScaling: scalesLoss(precision) ? GRAD_SCALER : undefined,
  });
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

/** One setting's figures. */
export interface StepRow {
  /** The Tempo setting (`tempoLabel`). */
  label: string;
  /** The activations' storage. */
  precision: Precision;
  /** Sequences per step. */
  batch: number;
  msPerStep: number;
  tokensPerSec: number;
  /** Model FLOP rate (`stepFlops`) in GFLOP/s. */
  gflops: number;
  /** The step's peak of live tensor bytes. */
  peakBytes: number;
}

/** One model shape: its settings side by side. */
export interface StepCase {
  model: string;
  layers: number;
  hidden: number;
  seq: number;
  rounds: number;
  /** GFLOP/s of the reference matmul (NT, B*T x ffn x hidden, the first setting's batch). */
  matmulGflops: number;
  /** Set when each setting ran at its own largest batch under this limit (bytes). */
  memoryLimit?: number;
  rows: StepRow[];
}

/**
 * ms/step of each Tempo setting at its batch and the reference matmul's GFLOP/s, measured side by
 * side: the settings' models all live at once and each round times the reference product, then
 * one step of each setting, in turn (the order rotating from round to round), so that drift in
 * the machine's speed (other processes, thermal) hits every figure alike. Medians over rounds.
 */
async function timeSteps(
  gpu: Gpu,
  cfg: ModelConfig,
  T: number,
  settings: readonly { tempo: TempoOptions; batch: number; precision: Precision }[],
  rounds: number,
): Promise<{ rate: number; rows: { ms: number; peak: number }[] }> {
  const M = settings[0].batch * T, N = cfg.ffn, K = cfg.hidden;
  const probe = matmulProbe(gpu, M, N, K);
  await probe.seconds(); // compile
  const runs = [];
  for (const s of settings) {
    runs.push(await setup(gpu, cfg, s.batch, T, s.tempo, new Encoder(gpu), s.precision));
  }
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

/**
 * The settings `--settings` names: baseline, Tempo with bit masks, Tempo with regenerated ones,
 * and that with fused attention.
 */
const SETTINGS: Record<string, TempoOptions> = {
  baseline: BASELINE,
  bits: { ...ALL_TEMPO, masks: "bits" },
  regen: ALL_TEMPO,
  fused: { ...ALL_TEMPO, attentionKind: "fused" },
};

/**
 * A size like `11GiB`, `512MiB`, `1e9` (binary units, bytes when none). Not cli/format.ts's
 * parseBytes: that module pulls in an npm package (cli-table3), which a device run has no cache
 * of (bench/device.sh runs offline).
 */
function parseSize(s: string): number {
  const m = /^([0-9.e+]+)\s*(KiB|MiB|GiB|B)?$/i.exec(s.trim());
  const units: Record<string, number> = { b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 };
  const v = m ? Number(m[1]) * units[(m[2] ?? "b").toLowerCase()] : NaN;
  if (!(v > 0)) throw new Error(`--memory-limit '${s}': write a size like 11GiB or 512MiB`);
  return Math.floor(v);
}

/** Time one model shape's settings (at `batch`, or each at its largest batch under `limit`). */
export async function stepCase(
  gpu: Gpu,
  cfg: ModelConfig,
  o: {
    batch: number;
    seq: number;
    rounds: number;
    settings: string[];
    precisions?: Precision[];
    memoryLimit?: number;
  },
): Promise<StepCase> {
  const T = o.seq;
  const settings = o.settings.flatMap((name) => {
    const tempo = SETTINGS[name];
    if (!tempo) throw new Error(`--settings: unknown '${name}'; valid: ${Object.keys(SETTINGS)}`);
    return (o.precisions ?? ["f32"]).map((precision) => {
      const batch = o.memoryLimit === undefined
        ? o.batch
        : maxBatch(cfg, T, tempo, o.memoryLimit, { precision });
      if (batch < 1) throw new Error(`${cfg.name} T=${T} ${name}: batch 1 does not fit the limit`);
      return { tempo, batch, precision };
    });
  });
  const { rate, rows } = await timeSteps(gpu, cfg, T, settings, o.rounds);
  return {
    model: cfg.name,
    layers: cfg.layers,
    hidden: cfg.hidden,
    seq: T,
    rounds: o.rounds,
    matmulGflops: rate,
    memoryLimit: o.memoryLimit,
    rows: rows.map((r, i) => {
      const B = settings[i].batch;
      return {
        label: tempoLabel(settings[i].tempo),
        precision: settings[i].precision,
        batch: B,
        msPerStep: r.ms,
        tokensPerSec: (B * T * 1000) / r.ms,
        gflops: stepFlops(cfg, B, T) / (r.ms / 1000) / 1e9,
        peakBytes: r.peak,
      };
    }),
  };
}

function printCase(c: StepCase): void {
  const limit = c.memoryLimit !== undefined
    ? `; each at its largest batch under ${(c.memoryLimit / 2 ** 30).toFixed(2)} GiB`
    : "";
  console.log(
    `\n${c.model} (L=${c.layers}, C=${c.hidden}), T=${c.seq}: reference matmul ` +
      `${c.matmulGflops.toFixed(1)} GFLOP/s; ${c.rounds} rounds${limit}`,
  );
  for (const r of c.rows) {
    console.log(
      `  ${`${r.label} ${r.precision}`.padEnd(41)} B=${String(r.batch).padStart(4)} ${
        r.msPerStep.toFixed(1).padStart(8)
      } ` +
        `ms/step ${Math.round(r.tokensPerSec).toString().padStart(8)} tok/s ${
          r.gflops.toFixed(1).padStart(7)
        } GFLOP/s (${((100 * r.gflops) / c.matmulGflops).toFixed(0)}% of matmul)  peak ${
          (r.peakBytes / 2 ** 20).toFixed(1)
        } MiB`,
    );
  }
  // 16 bits against f32 at the same setting and batch (the precision axis).
  for (const r of c.rows.filter((r) => r.precision !== "f32")) {
    const f = c.rows.find((x) => x.label === r.label && x.precision === "f32");
    if (!f) continue;
    console.log(
      `  ${r.label} ${r.precision} vs f32: step time ${(r.msPerStep / f.msPerStep).toFixed(2)}x` +
        `${r.batch === f.batch ? " at the same batch" : ` (batch ${r.batch} vs ${f.batch})`}, ` +
        `tokens/s ${(r.tokensPerSec / f.tokensPerSec).toFixed(2)}x, peak ` +
        `${(f.peakBytes / r.peakBytes).toFixed(2)}x lower`,
    );
  }
  const base = c.rows[0];
  for (const r of c.rows.slice(1).filter((r) => r.precision === base.precision)) {
    console.log(
      c.memoryLimit !== undefined
        ? `  ${r.label}: ${(r.tokensPerSec / base.tokensPerSec).toFixed(2)}x the baseline's ` +
          `tokens/s (batch ${r.batch} vs ${base.batch})`
        : `  ${r.label}: Tempo overhead at the same batch ${
          ((r.msPerStep / base.msPerStep - 1) * 100).toFixed(1)
        }%, peak ${(base.peakBytes / r.peakBytes).toFixed(2)}x lower`,
    );
  }
  // Fused attention against the all-Tempo step it replaces the attention of, at the same batch.
  const fused = c.rows.find((r) => r.label === tempoLabel(SETTINGS.fused));
  const tempo = c.rows.find((r) => r.label === tempoLabel(SETTINGS.regen));
  if (fused && tempo && c.memoryLimit === undefined) {
    console.log(
      `  ${fused.label}: ${(fused.msPerStep / tempo.msPerStep).toFixed(2)}x the ${tempo.label} ` +
        `step at the same batch, peak ${(tempo.peakBytes / fused.peakBytes).toFixed(2)}x lower`,
    );
  }
}

/** Run the benchmark and print a table (and write every case as JSON with --json FILE). */
export async function main(args: string[] = []): Promise<StepCase[]> {
  const get = (k: string) => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const num = (k: string, d: number) => (get(k) !== undefined ? Number(get(k)) : d);
  const steps = get("steps") !== undefined ? num("steps", 7) : null, layers = num("layers", 2);
  const batch = num("batch", 4), seq = num("seq", 128);
  const settings = (get("settings") ?? "baseline,bits,regen,fused").split(",");
  const precisions = (get("precisions") ?? "f32").split(",").map((p) => parsePrecision(p));
  const memoryLimit = get("memory-limit") !== undefined
    ? parseSize(get("memory-limit")!)
    : undefined;
  const gpu = await acquireGpu();
  console.log(
    `adapter: ${gpu.description}; medians over rounds (each: the reference matmul, then one ` +
      "step of each setting) after one warm-up step each",
  );
  const only = get("only") ?? "";
  const model = get("model");
  const cases: [ModelConfig, number, number][] = model
    ? [[resolveConfig(model, model.endsWith("tiny") ? {} : { layers }), batch, seq]]
    : [
      [resolveConfig("gpt2-tiny"), 8, 64] as [ModelConfig, number, number],
      [resolveConfig("bert-base", { layers, vocabSize: 30522 }), batch, seq] as [
        ModelConfig,
        number,
        number,
      ],
    ].filter(([cfg]) => !only || cfg.name.startsWith(only));
  const out: StepCase[] = [];
  for (const [cfg, B, T] of cases) {
    const rounds = steps ?? (cfg.hidden < 256 ? 101 : 7);
    const c = await stepCase(gpu, cfg, {
      batch: B,
      seq: T,
      rounds,
      settings,
      precisions,
      memoryLimit,
    });
    printCase(c);
    out.push(c);
  }
  const json = get("json");
  if (json) {
    await Deno.writeTextFile(
      json,
      JSON.stringify({ adapter: gpu.description, cases: out }, null, 1),
    );
  }
  return out;
}

if (import.meta.main) await main(Deno.args);

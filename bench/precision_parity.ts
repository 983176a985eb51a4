/**
 * 16-bit loss parity over the 300 steps (the unit test in models/transformer_test.ts runs
 * 60): gpt2-tiny and bert-tiny on the embedded corpus, batch 2 x seq 16, constant lr 3e-3, all
 * Tempo layers, at f32, bf16 and f16 (f16 with GradScaler's dynamic loss scaling), and the
 * baseline at each 16-bit precision; prints the largest |loss difference| of each curve against
 * f32 (and Tempo against the baseline at the same precision), step by step (where, with both
 * losses) and of 25-step means (the curves without batch noise), the mean of the last 50 losses,
 * and the steps f16 skipped.
 * Run: deno run -A bench/precision_parity.ts [--steps 300] [--only gpt2|bert]
 * @module
 */
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { acquireGpu, type Gpu } from "../core/gpu.ts";
import { type Precision, scalesLoss } from "../core/precision.ts";
import type { BatchSource } from "../core/train/batch.ts";
import { GRAD_SCALER } from "../core/train/loss_scaler.ts";
import { Trainer } from "../core/train/trainer.ts";
import { CausalLoader } from "../datasets/causal_loader.ts";
import { defaultCorpus } from "../datasets/default_corpus.ts";
import { MlmLoader } from "../datasets/mlm_loader.ts";
import { openShards } from "../datasets/shard_reader.ts";
import { tokenizerByName } from "../datasets/tokenizer_by_name.ts";
import { ALL_TEMPO, BASELINE, type TempoOptions } from "../layers/tempo_options.ts";
import { archOf } from "../models/arch.ts";
import { type ModelConfig, resolveConfig } from "../models/config.ts";
import { trainDefaults } from "../models/plan.ts";
import { Transformer } from "../models/transformer.ts";

const SHAPE = { batch: 2, seqLen: 16 };

async function corpus(cfg: ModelConfig): Promise<BatchSource> {
  const tok = tokenizerByName(cfg.tokenizer);
  const tokens = openShards((await defaultCorpus(tok)).train, { vocabSize: cfg.vocabSize });
  const { batch: B, seqLen: T } = SHAPE, masking = archOf(cfg).masking;
  return masking === null
    ? new CausalLoader({ tokens, B, T, seed: 1 })
    : new MlmLoader({ tokens, tokenizer: tok, B, T, seed: 1, masking, nsp: cfg.nsp });
}

/** Losses of `steps` steps, and the steps the loss scaler skipped. */
async function curve(
  gpu: Gpu,
  cfg: ModelConfig,
  tempo: TempoOptions,
  precision: Precision,
  steps: number,
): Promise<{ losses: number[]; skipped: number[] }> {
  const alloc = new Allocator({ device: gpu.device }), enc = new Encoder(gpu);
  const model = new Transformer(cfg, SHAPE, tempo, alloc, { precision });
  model.initialize(enc, 1);
  const trainer = new Trainer(model, alloc, enc, {
    ...trainDefaults(SHAPE),
    schedule: { kind: "constant", lr: 3e-3, minLr: 3e-3, warmup: 0, steps },
    lossScaling: scalesLoss(precision) ? GRAD_SCALER : undefined,
  });
  const src = await corpus(cfg);
  const losses: number[] = [], skipped: number[] = [];
  for (let i = 0; i < steps; i++) {
    const r = await trainer.step(src);
    losses.push(r.loss);
    if (r.skipped) skipped.push(r.step);
  }
  alloc.trim();
  return { losses, skipped };
}

const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));

/** Means of consecutive windows of 25 steps (the curve without its batch-to-batch noise). */
const windows = (a: number[]) =>
  Array.from(
    { length: Math.floor(a.length / 25) },
    (_, w) => a.slice(25 * w, 25 * w + 25).reduce((s, x) => s + x, 0) / 25,
  );

/** The largest |difference| of two curves' 25-step means. */
const maxWindowDiff = (a: number[], b: number[]) => maxDiff(windows(a), windows(b));

/** The step (1-based) where two curves differ most, and both losses there. */
function worst(a: number[], b: number[]): string {
  let k = 0;
  a.forEach((x, i) => {
    if (Math.abs(x - b[i]) > Math.abs(a[k] - b[k])) k = i;
  });
  return `step ${k + 1}: ${a[k].toFixed(3)} vs ${b[k].toFixed(3)}`;
}
const tailMean = (a: number[]) => a.slice(-50).reduce((s, x) => s + x, 0) / Math.min(50, a.length);

/** Run and print; returns the figures. */
export async function main(args: string[] = []): Promise<Record<string, unknown>> {
  const get = (k: string) => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const steps = Number(get("steps") ?? 300), only = get("only") ?? "";
  const gpu = await acquireGpu();
  console.log(`adapter: ${gpu.description}; ${steps} steps, batch 2 x seq 16, lr 3e-3 constant`);
  const out: Record<string, unknown> = {};
  for (const name of ["gpt2-tiny", "bert-tiny"].filter((n) => n.startsWith(only))) {
    const cfg = resolveConfig(name);
    const f32 = await curve(gpu, cfg, ALL_TEMPO, "f32", steps);
    const f32Base = await curve(gpu, cfg, BASELINE, "f32", steps);
    console.log(
      `${name} f32 : last-50 mean ${tailMean(f32.losses).toFixed(4)}; Tempo vs baseline max ` +
        `|diff| ${maxDiff(f32.losses, f32Base.losses).toFixed(5)} (${
          worst(f32.losses, f32Base.losses)
        }), of 25-step means ${maxWindowDiff(f32.losses, f32Base.losses).toFixed(5)}`,
    );
    for (const p of ["bf16", "f16"] as const) {
      const on = await curve(gpu, cfg, ALL_TEMPO, p, steps);
      const off = await curve(gpu, cfg, BASELINE, p, steps);
      const r = {
        vsF32: maxDiff(on.losses, f32.losses),
        vsF32Windows: maxWindowDiff(on.losses, f32.losses),
        tempoVsBaseline: maxDiff(on.losses, off.losses),
        tempoVsBaselineWindows: maxWindowDiff(on.losses, off.losses),
        tailMean: tailMean(on.losses),
        skipped: on.skipped,
      };
      out[`${name}:${p}`] = r;
      console.log(
        `${name} ${p.padEnd(4)}: max |loss - f32 loss| ${r.vsF32.toFixed(5)} (${
          worst(on.losses, f32.losses)
        }), of 25-step means ${r.vsF32Windows.toFixed(5)}; Tempo vs baseline ` +
          `${r.tempoVsBaseline.toFixed(5)} (${worst(on.losses, off.losses)}), of 25-step means ` +
          `${r.tempoVsBaselineWindows.toFixed(5)}; last-50 mean ${r.tailMean.toFixed(4)} (f32 ` +
          `${tailMean(f32.losses).toFixed(4)}); skipped steps: ${
            r.skipped.length ? r.skipped.join(",") : "none"
          }`,
      );
    }
  }
  return out;
}

if (import.meta.main) await main(Deno.args);

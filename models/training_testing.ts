/**
 * Helpers of the models' end-to-end training tests (transformer_test.ts, precision_*_test.ts):
 * the shape, the tiny configurations, a corpus loader, a training loop and the 16-bit parity
 * check.
 * @module
 */
import { Allocator } from "../core/allocator.ts";
import type { HalfDType } from "../core/dtype.ts";
import { Encoder } from "../core/encoder.ts";
import type { Gpu } from "../core/gpu.ts";
import type { BatchSource } from "../core/train/batch.ts";
import { Trainer } from "../core/train/trainer.ts";
import { GRAD_SCALER } from "../core/train/loss_scaler.ts";
import { type Precision, scalesLoss } from "../core/precision.ts";
import { CausalLoader } from "../datasets/causal_loader.ts";
import { defaultCorpus } from "../datasets/default_corpus.ts";
import { MlmLoader } from "../datasets/mlm_loader.ts";
import { openShards } from "../datasets/shard_reader.ts";
import { tokenizerByName } from "../datasets/tokenizer_by_name.ts";
import { ALL_TEMPO, BASELINE, type TempoOptions } from "../layers/tempo_options.ts";
import { archOf } from "./arch.ts";
import { type ModelConfig, resolveConfig } from "./config.ts";
import { trainDefaults } from "./plan.ts";
import { Transformer } from "./transformer.ts";

/** Largest |16-bit loss - f32 loss| over the parity check's 60 steps, by precision. */
const PRECISION_PARITY: Record<HalfDType, number> = { f16: 2e-2, bf16: 5e-2 };

/** The batch shape of the end-to-end tests: B = 2, T = 16. */
export const SHAPE = { batch: 2, seqLen: 16 };

/** The tiny configurations every end-to-end test covers: each architecture, and BERT with NSP. */
export const TINY_CONFIGS: [string, Record<string, unknown>][] = [
  ["gpt2-tiny", {}],
  ["bert-tiny", {}],
  ["roberta-tiny", {}],
  ["bert-tiny", { nsp: true }],
];

/** A seeded loader over the embedded corpus for `cfg`, at SHAPE. */
export async function corpusSource(cfg: ModelConfig, seed: number): Promise<BatchSource> {
  const tok = tokenizerByName(cfg.tokenizer);
  const ds = await defaultCorpus(tok);
  const tokens = openShards(ds.train, { vocabSize: cfg.vocabSize });
  const B = SHAPE.batch, T = SHAPE.seqLen;
  const arch = archOf(cfg);
  return arch.masking === null ? new CausalLoader({ tokens, B, T, seed }) : new MlmLoader({
    tokens,
    tokenizer: tok,
    B,
    T,
    seed,
    masking: arch.masking,
    nsp: cfg.nsp,
  });
}

/**
 * `steps` steps of `cfg` at SHAPE on the embedded corpus (constant lr, f16 loss-scaled): losses,
 * step peaks, skipped steps and whether a loss scale was used.
 */
export async function train(
  gpu: Gpu,
  cfg: ModelConfig,
  tempo: TempoOptions,
  steps: number,
  opts: { seed?: number; lr?: number; precision?: Precision } = {},
): Promise<{ losses: number[]; peaks: number[]; skipped: number; scaled: boolean }> {
  const alloc = new Allocator({ device: gpu.device });
  const enc = new Encoder(gpu);
  const precision = opts.precision ?? "f32";
  const model = new Transformer(cfg, SHAPE, tempo, alloc, { precision });
  model.initialize(enc, opts.seed ?? 1);
  const lr = opts.lr ?? 3e-3;
  const trainer = new Trainer(model, alloc, enc, {
    ...trainDefaults(SHAPE),
    seed: opts.seed ?? 1,
    schedule: { kind: "constant", lr, minLr: lr, warmup: 0, steps },
    lossScaling: scalesLoss(precision) ? GRAD_SCALER : undefined,
  });
  const src = await corpusSource(cfg, opts.seed ?? 1);
  const losses: number[] = [], peaks: number[] = [];
  let skipped = 0, scaled = false;
  let pending = trainer.step(src);
  for (let i = 1; i <= steps; i++) {
    const next = i < steps ? trainer.step(src) : null;
    const r = await pending;
    losses.push(r.loss);
    peaks.push(r.memory.peak);
    if (r.skipped) skipped++;
    if (r.lossScale !== undefined) scaled = true;
    if (next) pending = next;
  }
  alloc.trim();
  return { losses, peaks, skipped, scaled };
}

/**
 * Mixed precision on a tiny preset, 60 steps on the embedded corpus (bench/precision_parity.ts
 * runs the full 300): the 16-bit curves against f32 within PRECISION_PARITY, and Tempo on vs off
 * at the same precision within the f32 test's 2e-2. bf16 is never loss-scaled; f16 is, and at
 * GradScaler's 2^16 these models' gradients do not overflow (a skipped step would show in
 * `skipped`). Split over test files (precision_*_test.ts) so that the runner runs them side by
 * side: bert-tiny's steps cost several times gpt2-tiny's (its 30,522-word LM head), so its
 * precisions are two files, each with its own f32 run.
 */
export async function checkPrecisionParity(
  gpu: Gpu,
  name: string,
  precisions: HalfDType[] = ["bf16", "f16"],
): Promise<void> {
  const steps = 60;
  const cfg = resolveConfig(name);
  const f32 = await train(gpu, cfg, ALL_TEMPO, steps);
  for (const precision of precisions) {
    const on = await train(gpu, cfg, ALL_TEMPO, steps, { precision });
    const off = await train(gpu, cfg, BASELINE, steps, { precision });
    const vsF32 = Math.max(...on.losses.map((x, i) => Math.abs(x - f32.losses[i])));
    const vsBase = Math.max(...on.losses.map((x, i) => Math.abs(x - off.losses[i])));
    const what = `${name} ${precision}`;
    if (!(vsF32 < PRECISION_PARITY[precision])) throw new Error(`${what}: vs f32 up to ${vsF32}`);
    if (!(vsBase < 2e-2)) throw new Error(`${what}: Tempo vs baseline up to ${vsBase}`);
    if (precision === "bf16" && (on.scaled || on.skipped > 0)) {
      throw new Error(`${what}: bf16 was loss-scaled or skipped steps`);
    }
    if (precision === "f16" && !(on.scaled && on.skipped === 0)) {
      throw new Error(`${what}: f16 scaled ${on.scaled}, skipped ${on.skipped} steps`);
    }
    if (!(Math.max(...on.peaks) < Math.max(...f32.peaks))) {
      throw new Error(`${what}: 16-bit peak not below f32's`);
    }
    if (Deno.env.get("TEMPO_PARITY")) {
      console.log(
        `${what}: |vs f32| <= ${vsF32.toFixed(5)}, |Tempo vs off| <= ${vsBase.toFixed(5)}`,
      );
    }
  }
}

import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { OutOfMemoryError } from "../core/errors.ts";
import type { Gpu } from "../core/gpu.ts";
import { GPU_TEST, testGpu } from "../core/testing.ts";
import type { BatchSource } from "../core/train/batch.ts";
import { Trainer } from "../core/train/trainer.ts";
import { ALL_TEMPO, type TempoOptions } from "../layers/tempo_options.ts";
import { type ModelConfig, resolveConfig } from "./config.ts";
import { planModel, syntheticSource, trainDefaults } from "./plan.ts";
import { type RunShape, Transformer } from "./transformer.ts";

const FUSED: TempoOptions = { ...ALL_TEMPO, attentionKind: "fused" };

/** Tiny models at head size 8 (hidden 64, 8 heads): the fused kernels the op tests compile. */
const tiny = (name: string, over: Record<string, unknown> = {}) =>
  resolveConfig(name, { heads: 8, ...over });

/** `steps` optimizer steps on one repeated synthetic batch; losses and step peaks. */
async function train(
  gpu: Gpu,
  cfg: ModelConfig,
  shape: RunShape,
  tempo: TempoOptions,
  steps: number,
  memoryLimit?: number,
  precision: "f32" | "bf16" = "f32",
): Promise<{ losses: number[]; peaks: number[] }> {
  const alloc = new Allocator({ device: gpu.device, memoryLimit });
  const enc = new Encoder(gpu);
  const model = new Transformer(cfg, shape, tempo, alloc, { precision });
  model.initialize(enc, 1);
  const trainer = new Trainer(model, alloc, enc, {
    ...trainDefaults(shape),
    schedule: { kind: "constant", lr: 3e-3, minLr: 3e-3, warmup: 0, steps },
  });
  const src = syntheticSource(cfg, shape, 3);
  const first = src.next();
  const fixed: BatchSource = { next: () => first, state: () => ({}), restore: () => {} };
  const losses: number[] = [], peaks: number[] = [];
  for (let i = 0; i < steps; i++) {
    const r = await trainer.step(fixed);
    losses.push(r.loss);
    peaks.push(r.memory.peak);
  }
  alloc.trim();
  return { losses, peaks };
}

Deno.test({
  name: "fused vs standard attention (all Tempo): the same loss curve for 60 steps, GPT-2 and BERT",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu(), shape = { batch: 2, seqLen: 16 };
  for (const name of ["gpt2-tiny", "bert-tiny"]) {
    const cfg = tiny(name);
    const std = await train(gpu, cfg, shape, ALL_TEMPO, 60);
    const fused = await train(gpu, cfg, shape, FUSED, 60);
    // The Tempo-on-vs-off test's tolerance (models/transformer_test.ts): fused attention sums in
    // another order and takes P = exp(S - lse); the dropout masks are the same.
    const worst = Math.max(...std.losses.map((x, i) => Math.abs(x - fused.losses[i])));
    console.log(`  ${name}: fused vs standard losses differ by at most ${worst}`);
    if (!(worst < 2e-2)) throw new Error(`${name}: fused vs standard differ by up to ${worst}`);
    if (!(fused.losses[59] < fused.losses[0] - 0.5)) throw new Error(`${name}: loss did not fall`);
    const planned = planModel(cfg, shape, FUSED).peakBytes;
    if (fused.peaks[1] !== planned) {
      throw new Error(`${name}: fused GPU peak ${fused.peaks[1]}, planned ${planned}`);
    }
  }
});

// bf16 (no loss scaling): the fused layer stores its output and takes its gradient in 16 bits
// like the standard one; the curves agree within the 16-bit parity test's bf16 tolerance
// (models/transformer_test.ts), and planning mode's peak is the GPU's.
Deno.test({
  name: "fused vs standard attention at bf16: the same loss curve for 30 steps, GPT-2",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu(), shape = { batch: 2, seqLen: 16 };
  const cfg = tiny("gpt2-tiny");
  const std = await train(gpu, cfg, shape, ALL_TEMPO, 30, undefined, "bf16");
  const fused = await train(gpu, cfg, shape, FUSED, 30, undefined, "bf16");
  const worst = Math.max(...std.losses.map((x, i) => Math.abs(x - fused.losses[i])));
  console.log(`  bf16: fused vs standard losses differ by at most ${worst}`);
  if (!(worst < 5e-2)) throw new Error(`bf16: fused vs standard differ by up to ${worst}`);
  if (!(fused.losses[29] < fused.losses[0] - 0.5)) throw new Error("bf16: loss did not fall");
  const planned = planModel(cfg, shape, FUSED, { precision: "bf16" }).peakBytes;
  if (fused.peaks[1] !== planned) {
    throw new Error(`bf16 fused peak ${fused.peaks[1]} != ${planned}`);
  }
});

Deno.test({
  name: "fused attention trains at T = 1024 under a limit that the standard layer does not fit",
  ...GPU_TEST,
}, async () => {
  const gpu = await testGpu();
  // A tiny-width GPT-2 with 1024 positions, at T = 1024: P alone is 4 heads x 1024^2 x 4 bytes
  // = 16 MiB per block, where fused attention keeps 16 KiB of log-sum-exp.
  const cfg = tiny("gpt2-tiny", { maxPositions: 1024, dropout: 0.1 });
  const shape = { batch: 1, seqLen: 1024 };
  const limit = planModel(cfg, shape, FUSED).peakBytes;
  const std = planModel(cfg, shape, ALL_TEMPO).peakBytes;
  console.log(`  limit ${limit} B (fused peak); standard all-Tempo peak ${std} B`);
  if (!(std > limit)) throw new Error(`standard peak ${std} fits the fused peak ${limit}`);
  let refused = false;
  try {
    await train(gpu, cfg, shape, ALL_TEMPO, 1, limit);
  } catch (e) {
    refused = e instanceof OutOfMemoryError;
  }
  if (!refused) throw new Error("the standard layer trained within the fused layer's peak");
  const r = await train(gpu, cfg, shape, FUSED, 3, limit);
  if (!r.losses.every(Number.isFinite) || !(r.losses[2] < r.losses[0])) {
    throw new Error(`losses ${r.losses}`);
  }
  if (r.peaks.some((p) => p > limit)) throw new Error(`peaks ${r.peaks} over ${limit}`);
});

/**
 * Memory plans of a model: one training step of a transformer measured in planning mode (the real
 * model and trainer on an allocator without a device, see core/train/memory.ts), the figures a
 * report needs, and the largest batch that fits a memory limit. No GPU is needed.
 * @module
 */
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import type { Precision } from "../core/precision.ts";
import { type BatchSource, maskedPerSeq, type TokenBatch } from "../core/train/batch.ts";
import { type LayerSaved, measureStep, type StepMemory } from "../core/train/memory.ts";
import { ADAMW_DEFAULTS, Trainer, type TrainOptions } from "../core/train/trainer.ts";
import type { TempoOptions } from "../layers/tempo_options.ts";
import { archOf } from "./arch.ts";
import type { ModelConfig } from "./config.ts";
import { type RunShape, Transformer } from "./transformer.ts";

/** A step's memory with the model facts a report needs. */
export interface ModelPlan extends StepMemory {
  /** Parameter count. */
  parameters: number;
  /** Saved activation bytes per token per block (blocks only, no embeddings or head). */
  activationBytesPerTokenPerLayer: number;
  /** Saved bytes per layer of a middle block (block 1), by layer. */
  blockLayers: LayerSaved[];
}

/** Choices of a plan beyond the config, shape and Tempo switches. */
export interface PlanOptions {
  /** Storage of the activations (`--precision`; default f32). */
  precision?: Precision;
}

/** The memory of one training step of `cfg` at `shape`, measured in planning mode. */
export function planModel(
  cfg: ModelConfig,
  shape: RunShape,
  tempo: TempoOptions,
  options: PlanOptions = {},
): ModelPlan {
  const alloc = new Allocator();
  const model = new Transformer(cfg, shape, tempo, alloc, { precision: options.precision });
  const trainer = new Trainer(model, alloc, new Encoder(null), trainDefaults(shape));
  const step = measureStep(trainer, syntheticSource(cfg, shape));
  // Each tensor is counted at its first keeper. A middle block (block 1) then counts exactly one
  // copy of the [N,C] tensor passed between blocks, as the per-block formula does.
  const probe = `block${Math.min(1, cfg.layers - 1)}.`;
  const blockLayers = step.savedByLayer.filter((l) => l.name.startsWith(probe));
  const perBlock = blockLayers.reduce((s, l) => s + l.bytes, 0);
  return {
    ...step,
    parameters: model.store.count(),
    activationBytesPerTokenPerLayer: perBlock / (shape.batch * shape.seqLen),
    blockLayers,
  };
}

/** A deterministic synthetic batch source of the right shapes (for planning and benchmarks). */
export function syntheticSource(cfg: ModelConfig, shape: RunShape, seed = 1): BatchSource {
  const B = shape.batch, T = shape.seqLen, N = B * T;
  const lm = archOf(cfg).objective === "lm";
  let step = 0;
  return {
    next(): TokenBatch {
      let s = (seed * 2654435761 + step++ * 40503) >>> 0;
      const rnd = (n: number) => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return s % n;
      };
      const inputIds = new Int32Array(N).map(() => rnd(cfg.vocabSize));
      if (lm) {
        const targets = new Int32Array(N).map(() => rnd(cfg.vocabSize));
        return { B, T, inputIds, targets };
      }
      const k = maskedPerSeq(T);
      const maskedPositions = new Int32Array(B * k), maskedLabels = new Int32Array(B * k);
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < k; j++) {
          maskedPositions[b * k + j] = b * T + j;
          maskedLabels[b * k + j] = rnd(cfg.vocabSize);
        }
      }
      const nspLabels = cfg.nsp ? new Int32Array(B).map(() => rnd(2)) : undefined;
      return { B, T, inputIds, maskedPositions, maskedLabels, nspLabels };
    },
    state: () => ({ step }),
    restore: (st) => void (step = Number(st.step)),
  };
}

/** Optimizer settings for planning and benchmarks. */
export function trainDefaults(shape: RunShape): TrainOptions {
  return {
    schedule: { kind: "constant" as const, lr: 1e-3, minLr: 1e-3, warmup: 0, steps: 1 },
    weightDecay: 0.01,
    gradClip: 1,
    ...ADAMW_DEFAULTS,
    gradAccum: 1,
    seed: 1,
    tokensPerMicroBatch: shape.batch * shape.seqLen,
    samplesPerMicroBatch: shape.batch,
  };
}

/** Batches max-batch considers at most. */
const MAX_BATCH = 1 << 20;

/**
 * The largest batch whose step peak fits `limit` bytes at sequence length T (0 when even batch 1
 * does not fit), from planning-mode steps. The peak grows with the batch, about linearly: the
 * search starts at the line through batches 1 and 2, gallops to a bracket and bisects it, so the
 * answer is exact whatever the curve's shape (4 probes when it is a line).
 */
export function maxBatch(
  cfg: ModelConfig,
  T: number,
  tempo: TempoOptions,
  limit: number,
  options: PlanOptions = {},
): number {
  const peaks = new Map<number, number>();
  const peak = (b: number) => {
    let p = peaks.get(b);
    if (p === undefined) {
      peaks.set(b, p = planModel(cfg, { batch: b, seqLen: T }, tempo, options).peakBytes);
    }
    return p;
  };
  const fits = (b: number) => peak(b) <= limit;
  if (!fits(1)) return 0;
  if (!fits(2)) return 1;
  const slope = Math.max(1, peak(2) - peak(1));
  const guess = Math.min(MAX_BATCH, Math.max(2, 1 + Math.floor((limit - peak(1)) / slope)));
  let lo: number, hi: number;
  if (fits(guess)) {
    lo = guess;
    let step = 1;
    while (fits(lo + step)) {
      lo += step;
      step *= 2;
      if (lo >= MAX_BATCH) return lo;
    }
    hi = lo + step;
  } else {
    hi = guess;
    for (let step = 1;; step *= 2) {
      const c = Math.max(2, hi - step);
      if (fits(c)) {
        lo = c;
        break;
      }
      hi = c;
    }
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

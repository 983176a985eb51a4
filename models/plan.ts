/**
 * Memory planning of a model: the analytic prediction from the layers' declarations (no step
 * runs), the measured peak of a real step in planning mode (the real allocation sequence through
 * the real allocator, no kernels, no GPU), and the largest batch that fits a budget.
 * @module
 */
import { Allocator, type ByCategory, zeroByCategory } from "../core/allocator.ts";
import { bytesOf, numel } from "../core/dtype.ts";
import { Encoder } from "../core/encoder.ts";
import { gradNormScratchBytes } from "../core/ops/grad_norm.ts";
import { type BatchSource, maskedPerSeq, type TokenBatch } from "../core/train/batch.ts";
import { type Plan, planStep } from "../core/train/planner.ts";
import { ADAMW_DEFAULTS, Trainer, type TrainOptions } from "../core/train/trainer.ts";
import type { TempoOptions } from "../layers/tempo_options.ts";
import type { ModelConfig } from "./config.ts";
import { archOf } from "./arch.ts";
import { type RunShape, Transformer } from "./transformer.ts";

/** The trainer's persistent workspace: grad norm [2] and metrics [4] (f32). */
const TRAINER_WORKSPACE = 8 + 16;

/** A plan with the model facts a report needs. */
export interface ModelPlan extends Plan {
  /** Persistent bytes by category. */
  persistent: ByCategory;
  /** Parameter count. */
  parameters: number;
  /** Saved activation bytes per token per block (blocks only, no embeddings or head). */
  activationBytesPerTokenPerLayer: number;
  /** Saved bytes per layer of a middle block (block 1), by layer. */
  blockLayers: { name: string; bytes: number }[];
}

/** Predict the memory of one training step of `cfg` at `shape` from declarations alone. */
export function planModel(cfg: ModelConfig, shape: RunShape, tempo: TempoOptions): ModelPlan {
  const alloc = new Allocator();
  const model = new Transformer(cfg, shape, tempo, alloc);
  const paramBytes = model.params.reduce((s, p) => s + p.value.bytes, 0);
  const persistent = zeroByCategory();
  persistent.param = paramBytes;
  persistent.grad = paramBytes;
  persistent.optimizer = 2 * paramBytes;
  persistent.workspace = model.persistentWorkspaceBytes + TRAINER_WORKSPACE;
  const plan = planStep({
    persistent,
    batchBytes: model.batchTensorShapes().map((b) => bytesOf("i32", numel(b.shape))),
    externals: model.graph.externals,
    nodes: model.graph.nodes.map((n) => ({
      name: n.layer.name,
      inputs: n.inputs,
      output: n.output,
      memory: n.layer.memory(),
    })),
    afterBackwardBytes: gradNormScratchBytes(model.params.map((p) => p.grad)),
  });
  // Each tensor is counted at its first keeper. A middle block (block 1) then counts exactly one
  // copy of the [N,C] tensor passed between blocks, as the per-block formula does.
  const probe = `block${Math.min(1, cfg.layers - 1)}.`;
  const blockLayers = plan.savedByLayer.filter((l) => l.name.startsWith(probe));
  const perBlock = blockLayers.reduce((s, l) => s + l.bytes, 0);
  return {
    ...plan,
    persistent,
    parameters: model.store.count(),
    activationBytesPerTokenPerLayer: perBlock / (shape.batch * shape.seqLen),
    blockLayers,
  };
}

/** A deterministic synthetic batch source of the right shapes (for planning and benchmarks). */
export function syntheticSource(cfg: ModelConfig, shape: RunShape, seed = 1): BatchSource {
  const B = shape.batch, T = shape.seqLen, N = B * T;
  let step = 0;
  return {
    next(): TokenBatch {
      let s = (seed * 2654435761 + step++ * 40503) >>> 0;
      const rnd = (n: number) => {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return s % n;
      };
      const inputIds = new Int32Array(N).map(() => rnd(cfg.vocabSize));
      if (archOf(cfg).objective === "lm") {
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

/** Measure one training step's peak in planning mode (real allocation sequence, no GPU). */
export async function measurePlanned(
  cfg: ModelConfig,
  shape: RunShape,
  tempo: TempoOptions,
): Promise<{ peakBytes: number; peakByCategory: ByCategory; activationBytes: number }> {
  const alloc = new Allocator();
  const enc = new Encoder(null);
  const model = new Transformer(cfg, shape, tempo, alloc);
  const trainer = new Trainer(model, alloc, enc, trainDefaults(shape));
  const r = await trainer.step(syntheticSource(cfg, shape));
  return {
    peakBytes: r.memory.peak,
    peakByCategory: r.memory.peakByCategory,
    activationBytes: 0,
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

/**
 * The largest batch whose predicted peak fits `budget` bytes at sequence length T (0 when even
 * batch 1 does not fit). Exponential then binary search over the analytic planner.
 */
export function maxBatch(cfg: ModelConfig, T: number, tempo: TempoOptions, budget: number): number {
  const fits = (b: number) => planModel(cfg, { batch: b, seqLen: T }, tempo).peakBytes <= budget;
  if (!fits(1)) return 0;
  let lo = 1, hi = 2;
  while (fits(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > 1 << 20) return lo;
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

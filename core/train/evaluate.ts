/**
 * Evaluation of a model over batches: forward without dropout, nothing kept, the loss read back
 * after every batch. The summary's loss is the mean of the batches' mean losses, computed exactly
 * as the trainer's validation (`Trainer.evaluate`) computes it, so the same weights and batches
 * give the same number to the bit (as nanoGPT's estimate_loss and the Hugging Face Trainer
 * average per batch too). The targets each batch averaged over are counted as well.
 * @module
 */
import type { Allocator } from "../allocator.ts";
import type { Encoder } from "../encoder.ts";
import type { StepContext } from "../step.ts";
import type { BatchSource, TokenBatch } from "./batch.ts";
import type { Model } from "./model.ts";

/** One evaluated batch. */
export interface EvalBatch {
  /** Its mean loss over its targets. */
  loss: number;
  /** The targets it averaged over. */
  count: number;
}

/** What an evaluation found. */
export interface EvalSummary {
  /** Mean of the batches' mean losses (the trainer's validation loss). */
  loss: number;
  /** Batches evaluated. */
  batches: number;
  /** Targets scored over all batches. */
  targets: number;
}

/** Where an evaluation runs. */
export interface EvalContext {
  /** Encoder. */
  enc: Encoder;
  /** Allocator. */
  alloc: Allocator;
  /** Run seed (no dropout runs; layers still read it). */
  seed: number;
}

/**
 * Evaluate `batches` batches of `source`. `onBatch` runs after each batch's forward, before the
 * next (to read further outputs of the model, e.g. its predictions).
 */
export async function evaluateBatches(
  model: Model,
  env: EvalContext,
  source: BatchSource,
  batches: number,
  onBatch?: (batch: TokenBatch, result: EvalBatch) => Promise<void> | void,
): Promise<EvalSummary> {
  let sum = 0, targets = 0;
  for (let i = 0; i < batches; i++) {
    const ctx: StepContext = {
      enc: env.enc,
      alloc: env.alloc,
      training: false,
      seed: env.seed,
      stream: 0,
      lossScale: 1,
    };
    const batch = source.next();
    model.forward(ctx, batch);
    const [loss, count] = new Float32Array(await env.enc.read(model.loss));
    sum += loss;
    targets += count;
    await onBatch?.(batch, { loss, count });
  }
  return { loss: sum / Math.max(1, batches), batches, targets };
}

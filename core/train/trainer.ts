/**
 * The training loop: zero gradients, forward/backward over micro-batches, global-norm clipping and
 * AdamW on the GPU (the clip factor never leaves the GPU), and an asynchronous readback of the
 * loss: step n's loss is read while step n+1 is being encoded, so the GPU is never waited on
 * inside a step. Written against the small Model and BatchSource interfaces.
 * @module
 */
import type { Allocator, MemoryReport } from "../allocator.ts";
import type { Encoder } from "../encoder.ts";
import { TempoError } from "../errors.ts";
import { adamw } from "../ops/adamw.ts";
import { globalGradNorm, gradNormScratchBytes } from "../ops/grad_norm.ts";
import type { StepContext } from "../step.ts";
import type { Tensor } from "../tensor.ts";
import type { BatchSource } from "./batch.ts";
import type { Model } from "./model.ts";
import { learningRate, type Schedule } from "./schedule.ts";

/** Optimizer and loop settings. */
export interface TrainOptions {
  /** Learning-rate schedule (its `steps` is the number of optimizer steps). */
  schedule: Schedule;
  /** AdamW decoupled weight decay. */
  weightDecay: number;
  /** Max global gradient norm; 0 or Infinity disables clipping. */
  gradClip: number;
  /** AdamW beta1. */
  beta1: number;
  /** AdamW beta2. */
  beta2: number;
  /** AdamW epsilon. */
  eps: number;
  /** Micro-batches per optimizer step. */
  gradAccum: number;
  /** Run seed (dropout RNG key). */
  seed: number;
  /** Tokens per micro-batch (B*T), for throughput. */
  tokensPerMicroBatch: number;
  /** Samples per micro-batch (B). */
  samplesPerMicroBatch: number;
}

/** One optimizer step's record, reported when its loss has been read. */
export interface StepRecord {
  /** Optimizer step, 1-based. */
  step: number;
  /** Mean training loss over the step's micro-batches. */
  loss: number;
  /** Learning rate used. */
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /**
   * Wall time of the step, ms (between completions of consecutive steps; average over several
   * steps: two steps can complete within one readback poll).
   */
  ms: number;
  /** Tokens per optimizer step. */
  tokensPerStep: number;
  /** Samples per optimizer step. */
  samplesPerStep: number;
  /** Peak bytes of the step and the split at that peak. */
  memory: MemoryReport;
}

/** Optimizer state of one parameter. */
interface Moments {
  m: Tensor;
  v: Tensor;
}

/** Trains a model. Construct, then call `step()` repeatedly or `run()`. */
export class Trainer {
  /** Optimizer steps done. */
  stepsDone = 0;
  readonly #moments: Moments[];
  readonly #norm: Tensor; // [2] f32: global norm, clip factor
  readonly #metrics: Tensor; // [4] f32: loss mean, loss count, norm, clip factor
  #lastTime = performance.now();

  constructor(
    readonly model: Model,
    readonly alloc: Allocator,
    readonly enc: Encoder,
    readonly options: TrainOptions,
  ) {
    this.#moments = model.params.map((p) => {
      const m = alloc.alloc(p.value.shape, "f32", "optimizer", `${p.name}.m`);
      const v = alloc.alloc(p.value.shape, "f32", "optimizer", `${p.name}.v`);
      enc.clear(m);
      enc.clear(v);
      return { m, v };
    });
    this.#norm = alloc.alloc([2], "f32", "workspace", "grad_norm");
    this.#metrics = alloc.alloc([4], "f32", "workspace", "metrics");
  }

  /** The optimizer moments (for checkpoints), in parameter order. */
  get moments(): readonly Moments[] {
    return this.#moments;
  }

  /**
   * Encode and submit one optimizer step. Returns a promise of its record, resolved when the
   * GPU has produced the loss; the caller may encode the next step before awaiting it.
   */
  step(source: BatchSource): Promise<StepRecord> {
    const { model, alloc, enc, options: o } = this;
    const step = this.stepsDone;
    alloc.resetPeak();
    for (const p of model.params) enc.clear(p.grad);
    const lossParts: Promise<ArrayBuffer>[] = [];
    for (let micro = 0; micro < o.gradAccum; micro++) {
      const ctx: StepContext = {
        enc,
        alloc,
        training: true,
        seed: o.seed,
        stream: step * o.gradAccum + micro,
        lossScale: 1 / o.gradAccum,
      };
      model.forward(ctx, source.next());
      model.backward(ctx);
      if (micro < o.gradAccum - 1) lossParts.push(enc.read(model.loss));
    }
    const grads = model.params.map((p) => p.grad);
    const scratch = alloc.alloc(
      [gradNormScratchBytes(grads) / 4],
      "f32",
      "workspace",
      "grad_norm.scratch",
    );
    const maxNorm = o.gradClip > 0 ? o.gradClip : Infinity;
    globalGradNorm(enc, { out: this.#norm, scratch, grads, maxNorm });
    alloc.release(scratch);
    const lr = learningRate(o.schedule, step);
    model.params.forEach((p, i) => {
      const { m, v } = this.#moments[i];
      adamw(enc, { param: p.value, grad: p.grad, m, v, n: p.value.size, gradScale: this.#norm }, {
        lr,
        beta1: o.beta1,
        beta2: o.beta2,
        eps: o.eps,
        weightDecay: p.decay ? o.weightDecay : 0,
        step: step + 1,
      });
    });
    enc.copy(model.loss, this.#metrics, 8, 0, 0);
    enc.copy(this.#norm, this.#metrics, 8, 0, 8);
    const memory = alloc.report();
    const read = enc.read(this.#metrics);
    this.stepsDone++;
    return (async () => {
      const parts = await Promise.all(lossParts);
      const m = new Float32Array(await read);
      let loss = m[0];
      for (const b of parts) loss += new Float32Array(b)[0];
      loss /= o.gradAccum;
      const now = performance.now();
      const ms = now - this.#lastTime;
      this.#lastTime = now;
      const tokens = o.tokensPerMicroBatch * o.gradAccum;
      if (!Number.isFinite(loss)) {
        throw new TempoError(
          `loss is ${loss} at step ${step + 1}`,
          "lower --lr, raise --warmup or set --grad-clip; the last checkpoint (if any) is intact",
        );
      }
      return {
        step: step + 1,
        loss,
        lr,
        gradNorm: m[2],
        ms,
        tokensPerStep: tokens,
        samplesPerStep: o.samplesPerMicroBatch * o.gradAccum,
        memory,
      };
    })();
  }

  /** Reset the step timer (e.g. after a pause for validation or a checkpoint). */
  resetTimer(): void {
    this.#lastTime = performance.now();
  }

  /** Mean loss of `steps` evaluation batches (no dropout, nothing kept). */
  async evaluate(source: BatchSource, steps: number): Promise<number> {
    let sum = 0;
    for (let i = 0; i < steps; i++) {
      const ctx: StepContext = {
        enc: this.enc,
        alloc: this.alloc,
        training: false,
        seed: this.options.seed,
        stream: 0,
        lossScale: 1,
      };
      this.model.forward(ctx, source.next());
      sum += new Float32Array(await this.enc.read(this.model.loss))[0];
    }
    this.resetTimer();
    return sum / Math.max(1, steps);
  }
}

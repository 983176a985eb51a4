/**
 * The training loop: zero gradients, forward/backward over micro-batches, global-norm clipping and
 * AdamW on the GPU (the clip factor never leaves the GPU), and an asynchronous readback of the
 * loss: step n's loss is read while step n+1 is being encoded, so the GPU is never waited on
 * inside a step. Written against the small Model and BatchSource interfaces.
 *
 * A model's guard (`Model.guard`) is checked on the GPU at every step, before AdamW: when it trips,
 * AdamW skips the step on the GPU, and when the flag comes back with the loss the trainer resolves
 * the guard and encodes that step and every later one already encoded again, in order, with the
 * same batches and RNG streams. Every update that lands was computed on a path the guard trusts.
 *
 * Data parallelism (`collectives` of several ranks): each rank runs its micro-batches of the
 * global batch with its losses scaled by 1 / (ranks x micro-batches), the gradients are summed
 * over the ranks on the host (`GradientReducer`), and the gradient norm, clipping, the guard and
 * AdamW then run on every rank on identical gradients, so the parameters stay identical. A step's
 * encoding then waits for its gradients to come back from the GPU: `step()` returns before the
 * step is encoded, and `encoded()` says when it is.
 * @module
 */
import type { Allocator, MemoryReport } from "../allocator.ts";
import type { Collectives } from "../collectives/collectives.ts";
import type { Encoder } from "../encoder.ts";
import { TempoError } from "../errors.ts";
import { adamw } from "../ops/adamw.ts";
import { globalGradNorm, gradNormScratchBytes, OVERFLOW_BIT } from "../ops/grad_norm.ts";
import type { StepContext, StepObserver } from "../step.ts";
import type { Tensor } from "../tensor.ts";
import type { BatchSource, TokenBatch } from "./batch.ts";
import { DEFAULT_BUCKET_BYTES, GradientReducer, type ReduceStats } from "./data_parallel.ts";
import type { Model } from "./model.ts";
import {
  afterGoodStep,
  afterOverflow,
  initialScaler,
  type LossScaling,
  type ScalerState,
} from "./loss_scaler.ts";
import { learningRate, type Schedule } from "./schedule.ts";

/** AdamW's moment decays and epsilon unless a run says otherwise (torch.optim.AdamW's defaults). */
export const ADAMW_DEFAULTS: Readonly<Pick<TrainOptions, "beta1" | "beta2" | "eps">> = {
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
};

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
  /** Tokens per micro-batch (B*T) of one rank, for throughput. */
  tokensPerMicroBatch: number;
  /** Samples per micro-batch (B) of one rank. */
  samplesPerMicroBatch: number;
  /** The ranks of a data-parallel run (every rank constructs its Trainer alike); default one. */
  collectives?: Collectives;
  /** Bytes of gradients per all-reduce bucket; default DEFAULT_BUCKET_BYTES. */
  bucketBytes?: number;
  /** Dynamic loss scaling (f16 runs: `GRAD_SCALER`); absent: none (f32, bf16). */
  lossScaling?: LossScaling;
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
  /** Tokens per optimizer step (all ranks). */
  tokensPerStep: number;
  /** Samples per optimizer step (all ranks). */
  samplesPerStep: number;
  /** Peak bytes of the step on this rank and the split at that peak. */
  memory: MemoryReport;
  /** The loss scale the step's gradients were computed at (loss-scaled runs only). */
  lossScale?: number;
  /**
   * The step's gradients overflowed (an Inf or NaN) at `lossScale`: AdamW skipped it and the
   * scale was backed off (loss-scaled runs only). Its loss is still the loss of its batch.
   */
  skipped?: boolean;
  /**
   * What the model's guard switched at this step (e.g. Tempo LayerNorms that now keep their
   * input), when it tripped: the step was then run again, and this is the record of that run.
   */
  guarded?: string[];
}

/** Optimizer state of one parameter. */
interface Moments {
  m: Tensor;
  v: Tensor;
}

/** What the GPU answers for one step. */
interface Answer {
  /** Mean loss over the micro-batches. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** The skip word: GUARD_BIT when the model's guard tripped, OVERFLOW_BIT when the gradients overflowed (AdamW skipped the step either way). */
  flags: number;
  /** The allocator's report at the end of encoding, when it came after `step()` returned. */
  memory?: MemoryReport;
}

/** An encoded step whose record is not settled yet. */
interface InFlight {
  /** Optimizer step, 0-based. */
  index: number;
  /** Its micro-batches, kept for a re-run. */
  batches: TokenBatch[];
  /** Its observer, if any. */
  observer: StepObserver | undefined;
  /** Learning rate of the step. */
  lr: number;
  /** The allocator's report at the end of encoding. */
  memory: MemoryReport;
  /** The GPU's answer (replaced when the step is encoded again). */
  answer: Promise<Answer>;
  /** What the guard switched before the run that `answer` belongs to. */
  guarded: string[];
  /** The loss scaler's state the step was encoded at (loss-scaled runs; else null). */
  scaler: ScalerState | null;
}

/** The bit minAbsGammaFlag ORs into the skip word (the guard's). */
const GUARD_BIT = 1;

/** Trains a model. Construct, then call `step()` repeatedly (or hand it to `runLoop`). */
export class Trainer {
  /** Optimizer steps encoded (the next step's 0-based index). */
  stepsDone = 0;
  readonly #moments: Moments[];
  readonly #norm: Tensor; // [2] f32: global norm, clip factor
  readonly #metrics: Tensor; // [4] f32: loss mean, loss count, norm; word 3: guard tripped (u32)
  readonly #inFlight: InFlight[] = [];
  #settled: Promise<unknown> = Promise.resolve();
  #lastTime = performance.now();
  /** Gradient all-reduce of a data-parallel run; null for one process. */
  readonly #reducer: GradientReducer | null;
  /** The last step's encoding (data parallel: steps are encoded one after another). */
  #encoding: Promise<void> = Promise.resolve();
  /**
   * Loss scaling: the state the next step is encoded at (it assumes that every step in flight
   * is good), the state after the last settled step (what a checkpoint keeps), and the sticky
   * overflow word on the GPU that makes AdamW skip every step from an overflowed one on.
   */
  #encScaler: ScalerState | null = null;
  #settledScaler: ScalerState | null = null;
  readonly #overflow: Tensor | null = null;

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
    if (options.lossScaling) {
      this.#encScaler = this.#settledScaler = initialScaler(options.lossScaling);
      this.#overflow = alloc.alloc([1], "u32", "workspace", "loss_scale.overflow");
      enc.clear(this.#overflow);
    }
    const comm = options.collectives;
    this.#reducer = comm && comm.size > 1
      ? new GradientReducer(
        comm,
        model.params.map((p) => p.grad).reverse(),
        options.bucketBytes ?? DEFAULT_BUCKET_BYTES,
      )
      : null;
  }

  /** Where the gradient all-reduce's time went (data parallel), or null for one process. */
  get reduceStats(): Readonly<ReduceStats> | null {
    return this.#reducer?.stats ?? null;
  }

  /** Ranks of the run (1 without collectives). */
  get ranks(): number {
    return this.options.collectives?.size ?? 1;
  }

  /**
   * Resolves when every step so far is encoded (at once for one process; data parallel: after
   * its gradients have been reduced). Collectives of others (a stop vote) go after it, so that
   * every rank issues them in the same order.
   */
  encoded(): Promise<void> {
    return this.#encoding;
  }

  /**
   * The loss scaler's state after the last settled step (what a checkpoint keeps), or null
   * without loss scaling. After `runLoop` has settled every step, the next step's.
   */
  get scalerState(): ScalerState | null {
    return this.#settledScaler ? { ...this.#settledScaler } : null;
  }

  /** Continue from a checkpoint's scaler state (before the first step of this trainer). */
  restoreScaler(st: ScalerState): void {
    if (!this.options.lossScaling) throw new Error("restoreScaler: the run has no loss scaling");
    if (this.#inFlight.length > 0) throw new Error("restoreScaler: steps are in flight");
    this.#encScaler = { ...st };
    this.#settledScaler = { ...st };
  }

  /** The optimizer moments (for checkpoints), in parameter order. */
  get moments(): readonly Moments[] {
    return this.#moments;
  }

  /**
   * Encode and submit one optimizer step. Returns a promise of its record, resolved when the
   * GPU has produced the loss; the caller may encode the next step before awaiting it. Records
   * resolve in step order. In one process every allocation of the step happens before this
   * returns, so the allocator's report right after the call is the step's memory (planning mode
   * relies on it); data parallel, encoding goes on until `encoded()` resolves.
   * `observer` is told about every layer call of the step.
   */
  step(source: BatchSource, observer?: StepObserver): Promise<StepRecord> {
    const batches = Array.from({ length: this.options.gradAccum }, () => source.next());
    const step = this.#start(this.stepsDone, batches, observer, []);
    this.#inFlight.push(step);
    this.stepsDone++;
    const record = this.#settled.then(() => this.#settle(step), () => this.#settle(step));
    this.#settled = record.catch(() => {});
    return record;
  }

  /** Encode step `index`: at once for one process, after the steps before it data parallel. */
  #start(
    index: number,
    batches: TokenBatch[],
    observer: StepObserver | undefined,
    guarded: string[],
  ): InFlight {
    const scaler = this.#encScaler;
    if (scaler) this.#encScaler = afterGoodStep(this.options.lossScaling!, scaler);
    if (!this.#reducer) return this.#encode(index, batches, observer, guarded, scaler);
    const run = () => this.#encodeParallel(index, batches, observer, scaler);
    const encoded = this.#encoding.then(run, run);
    this.#encoding = encoded.then(() => {}, () => {});
    return {
      index,
      batches,
      observer,
      lr: learningRate(this.options.schedule, index),
      memory: this.alloc.report(),
      answer: encoded.then((e) => e.answer),
      guarded,
      scaler,
    };
  }

  /**
   * Forward and backward of the step's micro-batches, each with its RNG coordinates: the stream
   * is the optimizer step, and micro-batch m of rank r starts at global sample (r * A + m) * B.
   * Returns the reads of the micro-batches' losses (all of them when `all`, else all but the
   * last, whose loss the metrics copy carries).
   */
  #backward(
    index: number,
    batches: TokenBatch[],
    observer: StepObserver | undefined,
    lossScale: number,
    all: boolean,
  ): Promise<ArrayBuffer>[] {
    const { model, alloc, enc, options: o } = this;
    alloc.resetPeak();
    for (const p of model.params) enc.clear(p.grad);
    const rank = o.collectives?.rank ?? 0;
    const lossParts: Promise<ArrayBuffer>[] = [];
    batches.forEach((batch, micro) => {
      const ctx: StepContext = {
        enc,
        alloc,
        training: true,
        seed: o.seed,
        stream: index,
        sampleOffset: (rank * o.gradAccum + micro) * batch.B,
        samples: batch.B,
        lossScale,
        observer,
      };
      model.forward(ctx, batch);
      model.backward(ctx);
      if (all || micro < batches.length - 1) lossParts.push(enc.read(model.loss, 4));
    });
    return lossParts;
  }

  /**
   * The global gradient norm and clip factor, the guard, AdamW and the copy of loss, norm and
   * flag into the metrics; returns the read of the metrics.
   */
  #update(index: number, scaler: ScalerState | null): Promise<ArrayBuffer> {
    const { model, alloc, enc, options: o } = this;
    const grads = model.params.map((p) => p.grad);
    const scratch = alloc.alloc(
      [gradNormScratchBytes(grads) / 4],
      "f32",
      "workspace",
      "grad_norm.scratch",
    );
    const maxNorm = o.gradClip > 0 ? o.gradClip : Infinity;
    const overflow = this.#overflow;
    const scaled = scaler && overflow ? { scale: scaler.scale, overflow } : undefined;
    globalGradNorm(enc, { out: this.#norm, scratch, grads, maxNorm, scaled });
    alloc.release(scratch);
    // The guard reads parameters only, which nothing has changed since the forward: checked here,
    // after backward, its flag is not live at the step's peak.
    // The skip word: the overflow word's value (sticky: see #settle), the guard's bit ORed in.
    const words = model.guard?.words() ?? 0;
    const flag = words > 0 || overflow
      ? alloc.alloc([Math.max(1, words)], "u32", "workspace", "guard.flags")
      : null;
    if (flag) {
      if (overflow) enc.copy(overflow, flag, 4, 0, 0);
      else enc.clear(flag);
      if (words > 0) model.guard!.check(enc, flag);
    }
    const lr = learningRate(o.schedule, index);
    model.params.forEach((p, i) => {
      const { m, v } = this.#moments[i];
      adamw(enc, { param: p.value, grad: p.grad, m, v, n: p.value.size, gradScale: this.#norm }, {
        lr,
        beta1: o.beta1,
        beta2: o.beta2,
        eps: o.eps,
        weightDecay: p.decay ? o.weightDecay : 0,
        step: index + 1,
        skip: flag ?? undefined,
      });
    });
    enc.clear(this.#metrics);
    enc.copy(model.loss, this.#metrics, 8, 0, 0);
    enc.copy(this.#norm, this.#metrics, 4, 0, 8);
    if (flag) {
      enc.copy(flag, this.#metrics, 4, 0, 12);
      alloc.release(flag);
    }
    return enc.read(this.#metrics);
  }

  /** Encode step `index` over `batches` (allocations, dispatches, the readback of its metrics). */
  #encode(
    index: number,
    batches: TokenBatch[],
    observer: StepObserver | undefined,
    guarded: string[],
    scaler: ScalerState | null,
  ): InFlight {
    const o = this.options;
    const lossScale = (scaler?.scale ?? 1) / o.gradAccum;
    const lossParts = this.#backward(index, batches, observer, lossScale, false);
    const read = this.#update(index, scaler);
    const memory = this.alloc.report();
    const answer = (async (): Promise<Answer> => {
      const parts = await Promise.all(lossParts);
      const buf = await read;
      const m = new Float32Array(buf);
      let loss = m[0];
      for (const b of parts) loss += new Float32Array(b)[0];
      return { loss: loss / o.gradAccum, gradNorm: m[2], flags: new Uint32Array(buf)[3] };
    })();
    return {
      index,
      batches,
      observer,
      lr: learningRate(o.schedule, index),
      memory,
      answer,
      guarded,
      scaler,
    };
  }

  /**
   * Encode step `index` of a data-parallel run: backward with the losses scaled by
   * 1 / (ranks x micro-batches), the sum of the gradients (and of the scaled losses: the global
   * batch's mean loss) over the ranks, then the update. Resolves once the update is encoded,
   * with the promise of the GPU's answer.
   */
  async #encodeParallel(
    index: number,
    batches: TokenBatch[],
    observer: StepObserver | undefined,
    scaler: ScalerState | null,
  ): Promise<{ answer: Promise<Answer> }> {
    const reducer = this.#reducer!;
    const scale = 1 / (this.options.gradAccum * reducer.comm.size);
    const lossScale = scale * (scaler?.scale ?? 1);
    const lossParts = this.#backward(index, batches, observer, lossScale, true);
    const localLoss = Promise.all(lossParts).then((parts) => {
      let sum = 0;
      for (const b of parts) sum += new Float32Array(b)[0];
      return Float32Array.of(sum * scale);
    });
    const [loss] = await reducer.reduce(
      this.enc,
      this.alloc,
      localLoss,
      `the gradients of step ${index + 1}`,
    );
    const read = this.#update(index, scaler);
    const memory = this.alloc.report();
    const answer = read.then((buf): Answer => ({
      loss,
      gradNorm: new Float32Array(buf)[2],
      flags: new Uint32Array(buf)[3],
      memory,
    }));
    return { answer };
  }

  /** Wait for a step's answer; re-run it (and the steps after it) while the guard trips. */
  async #settle(step: InFlight): Promise<StepRecord> {
    const o = this.options;
    try {
      let a = await step.answer;
      while (a.flags & GUARD_BIT) {
        const switched = await this.model.guard!.resolve(this.enc, this.alloc);
        if (switched.length === 0) {
          throw new Error(`step ${step.index + 1}: the model's guard tripped but switched nothing`);
        }
        // This step and every later one encoded so far were skipped on the GPU (the parameters
        // they saw did not change); encode them again, in order, on the switched path, at the
        // loss scales they were encoded at.
        this.#reencode(
          step,
          true,
          step.scaler,
          (s) => s === step ? [...s.guarded, ...switched] : s.guarded,
        );
        a = await step.answer;
      }
      const scaling = this.options.lossScaling;
      const overflowed = (a.flags & OVERFLOW_BIT) !== 0;
      if (scaling && step.scaler) {
        if (Number.isFinite(a.loss) && overflowed) {
          // AdamW skipped this step and, the overflow word being sticky, every later one encoded
          // so far: back off, clear the word and encode those again at the scales that follow.
          const next = afterOverflow(scaling, step.scaler, step.index + 1);
          this.#settledScaler = next;
          this.#reencode(step, false, next, (s) => s.guarded);
        } else this.#settledScaler = afterGoodStep(scaling, step.scaler);
      }
      const now = performance.now();
      const ms = now - this.#lastTime;
      this.#lastTime = now;
      if (!Number.isFinite(a.loss)) {
        throw new TempoError(
          `loss is ${a.loss} at step ${step.index + 1}`,
          "lower --lr, raise --warmup or set --grad-clip; the last checkpoint (if any) is intact",
        );
      }
      const record: StepRecord = {
        step: step.index + 1,
        loss: a.loss,
        lr: step.lr,
        gradNorm: a.gradNorm,
        ms,
        tokensPerStep: o.tokensPerMicroBatch * o.gradAccum * this.ranks,
        samplesPerStep: o.samplesPerMicroBatch * o.gradAccum * this.ranks,
        memory: a.memory ?? step.memory,
      };
      if (step.scaler) record.lossScale = step.scaler.scale;
      if (step.scaler && overflowed) record.skipped = true;
      if (step.guarded.length > 0) record.guarded = step.guarded;
      return record;
    } finally {
      this.#inFlight.splice(this.#inFlight.indexOf(step), 1);
    }
  }

  /**
   * Encode again the steps in flight from `step` on (`self`: `step` included, else the ones
   * after it), in order, the first of them at loss-scaler state `scaler`, and clear the sticky
   * overflow word before them.
   */
  #reencode(
    step: InFlight,
    self: boolean,
    scaler: ScalerState | null,
    guardedOf: (s: InFlight) => string[],
  ): void {
    if (this.#overflow) this.enc.clear(this.#overflow);
    this.#encScaler = scaler ? { ...scaler } : null;
    const from = this.#inFlight.indexOf(step) + (self ? 0 : 1);
    for (const s of this.#inFlight.slice(from)) {
      s.answer.catch(() => {}); // superseded
      Object.assign(s, this.#start(s.index, s.batches, s.observer, guardedOf(s)));
    }
    // Nothing re-encoded: the next step to encode starts from `scaler`.
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

/**
 * The run loop around a Trainer: pipelined steps (step n+1 is encoded before step n's loss is
 * awaited), periodic validation and checkpoints, a stop on request (an AbortSignal: the step in
 * flight is finished and a checkpoint written), and callbacks for whoever prints.
 * @module
 */
import type { BatchSource } from "./batch.ts";
import { type CheckpointState, saveCheckpoint } from "./checkpoint.ts";
import { FaultPlan } from "./fault.ts";
import type { StepRecord, Trainer } from "./trainer.ts";

/** Loop settings. */
export interface LoopOptions {
  /** The run's total optimizer steps (counting resumed ones; the schedule spans them). */
  steps: number;
  /** Stop early once this many steps are done (a checkpoint is saved there); default `steps`. */
  stopAt?: number;
  /**
   * Evaluate every this many steps and at step `steps` (0 = never). An early stop (`stopAt`, a
   * signal) does not evaluate, so a resumed run evaluates exactly where an uninterrupted one does.
   */
  valEvery: number;
  /** Batches per evaluation. */
  valSteps: number;
  /** Save a checkpoint every this many steps (0 = only at the end when `out` is set). */
  saveEvery: number;
  /** Run folder for checkpoints, or undefined for none. */
  out?: string;
  /** Checkpoints to keep (newest first; 0 = all). Default 0. */
  keepLast?: number;
  /** Extra state stored in checkpoints. */
  run: Record<string, unknown>;
  /** Stop cleanly when aborted: finish the step in flight, save (with `out`), return. */
  signal?: AbortSignal;
  /**
   * Data parallel: turn this rank's stop request (the abort reason, or undefined) into the one
   * every rank acts on, so that all stop after the same step. A collective: called once before
   * every step, after the steps before it are encoded, on every rank alike.
   */
  agreeStop?: (local: string | undefined) => Promise<string | undefined>;
  /** Injected faults (tests). */
  faults?: FaultPlan;
  /** Called with every step's record, in order. */
  onStep?: (r: StepRecord) => void;
  /** Called with each validation loss. */
  onEval?: (step: number, loss: number) => void;
  /** Called after each checkpoint. */
  onSave?: (step: number, dir: string) => void;
}

/** What a finished (or stopped) run reports. */
export interface LoopSummary {
  /** Every step's record. */
  records: StepRecord[];
  /** Validation losses by step. */
  evals: { step: number; loss: number }[];
  /** Why the run stopped early when `signal` aborted it (the abort reason as a string). */
  interrupted?: string;
  /** The last checkpoint this loop wrote. */
  saved?: { step: number; dir: string };
}

/** Train until `options.steps`, from wherever the trainer is. */
export async function runLoop(
  trainer: Trainer,
  source: BatchSource,
  val: BatchSource | null,
  options: LoopOptions,
): Promise<LoopSummary> {
  const faults = options.faults ?? FaultPlan.none;
  const summary: LoopSummary = { records: [], evals: [] };
  const startStep = trainer.stepsDone;
  const save = async () => {
    if (!options.out || summary.saved?.step === trainer.stepsDone) return;
    const state: CheckpointState = {
      step: trainer.stepsDone,
      data: source.state(),
      val: val ? val.state() : null,
      run: options.run,
    };
    const scaler = trainer.scalerState;
    if (scaler) state.scaler = scaler;
    const dir = await saveCheckpoint(
      options.out,
      trainer.enc,
      trainer.model.params,
      trainer.moments,
      state,
      { keepLast: options.keepLast ?? 0, faults },
    );
    summary.saved = { step: trainer.stepsDone, dir };
    options.onSave?.(trainer.stepsDone, dir);
    trainer.resetTimer();
  };
  let pending: Promise<StepRecord> | null = null;
  const settle = async () => {
    if (!pending) return;
    const r = await pending;
    pending = null;
    summary.records.push(r);
    options.onStep?.(r);
    await faults.afterStep(r.step);
  };
  const stopRequest = async (): Promise<string | undefined> => {
    const signal = options.signal;
    const local = signal?.aborted ? String(signal.reason ?? "aborted") : undefined;
    if (!options.agreeStop) return local;
    await trainer.encoded();
    return await options.agreeStop(local);
  };
  trainer.resetTimer();
  const end = Math.min(options.steps, options.stopAt ?? options.steps);
  let stopped: string | undefined;
  while (trainer.stepsDone < end) {
    stopped = await stopRequest();
    if (stopped !== undefined) break;
    const next = trainer.step(source);
    try {
      await settle();
    } catch (e) {
      next.catch(() => {}); // the step encoded after a failed one is abandoned with the run
      throw e;
    }
    pending = next;
    const s = trainer.stepsDone;
    const evalHere = val !== null && options.valEvery > 0 &&
      (s % options.valEvery === 0 || s === options.steps);
    const saveHere = (options.saveEvery > 0 && s % options.saveEvery === 0) || s === end;
    if (evalHere || saveHere) {
      await settle();
      if (evalHere) {
        const loss = await trainer.evaluate(val, options.valSteps);
        summary.evals.push({ step: s, loss });
        options.onEval?.(s, loss);
      }
      if (saveHere) await save();
    }
  }
  await settle();
  if (stopped !== undefined) {
    summary.interrupted = stopped;
    if (trainer.stepsDone > startStep) await save();
  }
  return summary;
}

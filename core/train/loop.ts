/**
 * The run loop around a Trainer: pipelined steps (step n+1 is encoded before step n's loss is
 * awaited), periodic validation and checkpoints, and callbacks for whoever prints.
 * @module
 */
import type { BatchSource } from "./batch.ts";
import { type CheckpointState, saveCheckpoint } from "./checkpoint.ts";
import type { StepRecord, Trainer } from "./trainer.ts";

/** Loop settings. */
export interface LoopOptions {
  /** The run's total optimizer steps (counting resumed ones; the schedule spans them). */
  steps: number;
  /** Stop early once this many steps are done (a checkpoint is saved there); default `steps`. */
  stopAt?: number;
  /** Evaluate every this many steps (0 = never). */
  valEvery: number;
  /** Batches per evaluation. */
  valSteps: number;
  /** Save a checkpoint every this many steps (0 = only at the end when `out` is set). */
  saveEvery: number;
  /** Checkpoint folder, or undefined for none. */
  out?: string;
  /** Extra state stored in checkpoints. */
  run: Record<string, unknown>;
  /** Called with every step's record, in order. */
  onStep?: (r: StepRecord) => void;
  /** Called with each validation loss. */
  onEval?: (step: number, loss: number) => void;
  /** Called after each checkpoint. */
  onSave?: (step: number, dir: string) => void;
}

/** What a finished run reports. */
export interface LoopSummary {
  /** Every step's record. */
  records: StepRecord[];
  /** Validation losses by step. */
  evals: { step: number; loss: number }[];
}

/** Train until `options.steps`, from wherever the trainer is. */
export async function runLoop(
  trainer: Trainer,
  source: BatchSource,
  val: BatchSource | null,
  options: LoopOptions,
): Promise<LoopSummary> {
  const records: StepRecord[] = [];
  const evals: { step: number; loss: number }[] = [];
  const save = async () => {
    if (!options.out) return;
    const state: CheckpointState = {
      step: trainer.stepsDone,
      data: source.state(),
      run: options.run,
    };
    await saveCheckpoint(
      options.out,
      trainer.enc,
      trainer.model.params,
      trainer.moments,
      state,
    );
    options.onSave?.(trainer.stepsDone, options.out);
    trainer.resetTimer();
  };
  let pending: Promise<StepRecord> | null = null;
  const settle = async () => {
    if (!pending) return;
    const r = await pending;
    pending = null;
    records.push(r);
    options.onStep?.(r);
  };
  trainer.resetTimer();
  const end = Math.min(options.steps, options.stopAt ?? options.steps);
  while (trainer.stepsDone < end) {
    const next = trainer.step(source);
    try {
      await settle();
    } catch (e) {
      next.catch(() => {}); // the step encoded after a failed one is abandoned with the run
      throw e;
    }
    pending = next;
    const s = trainer.stepsDone;
    const needsSync = (options.valEvery > 0 && s % options.valEvery === 0) ||
      (options.saveEvery > 0 && s % options.saveEvery === 0) || s === end;
    if (needsSync) {
      await settle();
      if (val && options.valEvery > 0 && (s % options.valEvery === 0 || s === end)) {
        const loss = await trainer.evaluate(val, options.valSteps);
        evals.push({ step: s, loss });
        options.onEval?.(s, loss);
      }
      if ((options.saveEvery > 0 && s % options.saveEvery === 0) || s === end) await save();
    }
  }
  await settle();
  return { records, evals };
}

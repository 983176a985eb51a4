/**
 * Learning-rate schedules with linear warmup.
 * @module
 */

/** Schedule shape after warmup. */
export type ScheduleKind = "cosine" | "linear" | "constant";

/** Schedule parameters. */
export interface Schedule {
  /** Shape after warmup. */
  kind: ScheduleKind;
  /** Peak learning rate. */
  lr: number;
  /** Floor the schedule decays to. */
  minLr: number;
  /** Linear warmup steps (from lr/warmup to lr). */
  warmup: number;
  /** Total optimizer steps. */
  steps: number;
}

/** The learning rate at optimizer step `step` (0-based). */
export function learningRate(s: Schedule, step: number): number {
  if (s.warmup > 0 && step < s.warmup) return (s.lr * (step + 1)) / s.warmup;
  if (s.kind === "constant") return s.lr;
  const span = Math.max(1, s.steps - s.warmup);
  const t = Math.min(1, Math.max(0, (step - s.warmup) / span));
  const f = s.kind === "cosine" ? 0.5 * (1 + Math.cos(Math.PI * t)) : 1 - t;
  return s.minLr + (s.lr - s.minLr) * f;
}

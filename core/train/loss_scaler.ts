/**
 * Dynamic loss scaling for f16 training, with PyTorch's GradScaler semantics: the loss gradient is
 * multiplied by a scale (initially 2^16) so that small activation gradients survive f16's range;
 * parameter gradients (f32) are unscaled on the GPU before clipping and AdamW. A step whose
 * gradients hold an Inf or NaN is skipped (AdamW writes nothing) and the scale is halved; after
 * `growthInterval` good steps in a row it is doubled. Scales stay powers of two, so scaling and
 * unscaling are exact. Below `minScale` the run stops: the gradients overflow f16 even nearly
 * unscaled, which no scale fixes (fairseq's "minimum loss scale reached").
 *
 * This file is the state machine only (host numbers); the trainer applies it: it encodes steps
 * ahead with the scale that follows if every step before them is good, and when a step comes back
 * overflowed it backs off and encodes the later steps again, so the scales used are exactly those
 * of a run that waited for every step (and a resumed run continues them bit for bit).
 * @module
 */
import { TempoError } from "../errors.ts";

/** The scaler's settings. */
export interface LossScaling {
  /** Scale of the first step (GradScaler: 2^16). */
  init: number;
  /** Multiplier after `growthInterval` good steps (GradScaler: 2). */
  growthFactor: number;
  /** Multiplier after an overflowed step (GradScaler: 0.5). */
  backoffFactor: number;
  /** Good steps in a row before the scale grows (GradScaler: 2000). */
  growthInterval: number;
  /** The run stops when the scale falls below this (fairseq's default: 1e-4). */
  minScale: number;
}

/** torch.cuda.amp.GradScaler's defaults, and fairseq's floor. */
export const GRAD_SCALER: Readonly<LossScaling> = {
  init: 65536,
  growthFactor: 2,
  backoffFactor: 0.5,
  growthInterval: 2000,
  minScale: 1e-4,
};

/** What a checkpoint keeps of the scaler: the scale of the next step and the good-step streak. */
export interface ScalerState {
  /** Loss scale of the next step. */
  scale: number;
  /** Good steps in a row since the last growth or backoff. */
  goodSteps: number;
}

/** The state before the first step. */
export function initialScaler(s: LossScaling): ScalerState {
  return { scale: s.init, goodSteps: 0 };
}

/** The state after a step at `st` whose gradients were finite. */
export function afterGoodStep(s: LossScaling, st: ScalerState): ScalerState {
  const good = st.goodSteps + 1;
  return good >= s.growthInterval
    ? { scale: st.scale * s.growthFactor, goodSteps: 0 }
    : { scale: st.scale, goodSteps: good };
}

/**
 * The state after a step at `st` whose gradients overflowed (`step` is 1-based, for the message).
 * Throws a TempoError when the scale falls below the floor.
 */
export function afterOverflow(s: LossScaling, st: ScalerState, step: number): ScalerState {
  const scale = st.scale * s.backoffFactor;
  if (scale < s.minScale) {
    throw new TempoError(
      `loss scale collapsed at step ${step}: the gradients overflowed f16 at scale ${st.scale}, ` +
        `and ${scale} is below --min-loss-scale ${s.minScale}`,
      "train with --precision bf16 (f32's range) or f32, or lower --lr; the last checkpoint " +
        "(if any) is intact",
    );
  }
  return { scale, goodSteps: 0 };
}

/** Check a scaler state read from a checkpoint; returns it. */
export function checkScalerState(v: unknown, where: string): ScalerState {
  const st = v as Partial<ScalerState> | null;
  if (
    !st || typeof st !== "object" || !(typeof st.scale === "number" && st.scale > 0) ||
    !(Number.isInteger(st.goodSteps) && st.goodSteps! >= 0)
  ) {
    throw new TempoError(
      `${where}: the loss scaler's state is damaged (${JSON.stringify(v)})`,
      "resume from another checkpoint of the run",
    );
  }
  return { scale: st.scale, goodSteps: st.goodSteps! };
}

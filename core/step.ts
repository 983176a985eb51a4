/**
 * What every layer call of a step sees: the encoder, the allocator, the training flag and the RNG
 * stream of the step (dropout masks are regenerated from (seed, stream, site) in backward).
 * @module
 */
import type { Allocator } from "./allocator.ts";
import type { Encoder } from "./encoder.ts";

/** Per-step state passed to every layer call. */
export interface StepContext {
  /** Where dispatches are recorded (a planning encoder dispatches nothing). */
  enc: Encoder;
  /** Where every tensor comes from. */
  alloc: Allocator;
  /** Training (dropout on, activations kept, gradients computed) or evaluation. */
  training: boolean;
  /** Run seed: the dropout RNG key. */
  seed: number;
  /** Micro-step counter (optimizer step * grad-accum + micro-batch): the RNG stream base. */
  stream: number;
  /** Multiplier of the loss gradient (1 / grad-accum). */
  lossScale: number;
  /** Told about every layer call of the step (e.g. to attribute memory to layers); usually absent. */
  observer?: StepObserver;
}

/** Watches the layer calls of a step. Executors of layer lists call it; layers never do. */
export interface StepObserver {
  /** Before layer `name`'s forward or backward call. */
  enter(phase: "forward" | "backward", name: string): void;
  /** After that call and the executor's bookkeeping of it (released inputs, summed gradients). */
  leave(phase: "forward" | "backward", name: string): void;
}

/** Dropout sites per step (each block has a few); the stream layout reserves this many. */
export const MAX_SITES = 1024;

/** The RNG stream of one dropout site in one step: distinct for every (step, site) pair. */
export function dropoutStream(ctx: StepContext, site: number): number {
  if (!(site >= 0 && site < MAX_SITES)) throw new Error(`dropout site ${site} out of range`);
  return (ctx.stream * MAX_SITES + site) >>> 0;
}

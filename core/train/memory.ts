/**
 * The memory model: one training step measured in planning mode. The real `Trainer.step` runs —
 * the real layer code, the real allocation sequence through the real allocator — on an allocator
 * without a device and an encoder without a GPU, so nothing is dispatched and no buffer exists.
 * The peak it measures is the peak a GPU step reaches, to the byte (a GPU test holds the two
 * equal), and a probe of bert-large takes milliseconds. An observer of the step's layer calls
 * attributes the saved activations to the layers and the peak to the call that reached it.
 * @module
 */
import type { Allocator, ByCategory, ByDtype } from "../allocator.ts";
import type { StepObserver } from "../step.ts";
import type { BatchSource } from "./batch.ts";
import type { Trainer } from "./trainer.ts";

/** Activation bytes one layer's forward kept. */
export interface LayerSaved {
  /** Layer name. */
  name: string;
  /** Bytes (a tensor several layers keep is counted at the first keeper). */
  bytes: number;
}

/** The memory of one training step. */
export interface StepMemory {
  /** Peak of the live bytes over the step. */
  peakBytes: number;
  /** Live bytes by category at that peak. */
  peakByCategory: ByCategory;
  /** Live bytes by dtype at that peak (16-bit activations show as f16 or bf16). */
  peakByDtype: ByDtype;
  /**
   * Where the peak was reached: `forward:<layer>` or `backward:<layer>` inside a layer call
   * (with the executor's bookkeeping of it), else the label of the allocation that set it.
   */
  peakAt: string;
  /** Live bytes by category outside steps: parameters, gradients, optimizer, small workspace. */
  persistent: ByCategory;
  /** Saved activation bytes when forward ends (the sum of `savedByLayer`). */
  activationBytes: number;
  /** Saved activation bytes per layer, in forward order (every layer, zeros included). */
  savedByLayer: LayerSaved[];
  /** Saved activation bytes when forward ends, by dtype (masks are u8 or bit). */
  activationByDtype: ByDtype;
}

/**
 * Measure one optimizer step of `trainer` in planning mode. The trainer must be built on a
 * planning allocator (no device) and a planning encoder (`new Encoder(null)`); `source` supplies
 * batches of the model's shapes (their values matter only to host-side checks).
 */
export function measureStep(trainer: Trainer, source: BatchSource): StepMemory {
  const alloc = trainer.alloc;
  if (alloc.mode !== "plan" || !trainer.enc.planning) {
    throw new Error("measureStep needs a planning-mode trainer (no device, no GPU)");
  }
  const persistent = alloc.report().live;
  const recorder = new LayerRecorder(alloc);
  // All of a step's allocations happen inside step(); its record (zeros in planning mode) is not
  // needed.
  void trainer.step(source, recorder);
  const r = alloc.report();
  const savedByLayer = [...recorder.saved].map(([name, bytes]) => ({ name, bytes }));
  return {
    peakBytes: r.peak,
    peakByCategory: r.peakByCategory,
    peakByDtype: r.peakByDtype,
    peakAt: recorder.peakAt !== null && recorder.peakSeen === r.peak ? recorder.peakAt : r.peakAt,
    persistent,
    activationBytes: savedByLayer.reduce((s, l) => s + l.bytes, 0),
    savedByLayer,
    activationByDtype: recorder.activationByDtype ?? r.activationByDtype,
  };
}

/** Records what each layer call added to the saved activations, and which call raised the peak. */
class LayerRecorder implements StepObserver {
  /** Activation bytes added by each layer's forward, in forward order. */
  readonly saved = new Map<string, number>();
  /** The last call that raised the peak, and the peak it raised it to. */
  peakAt: string | null = null;
  peakSeen = -1;
  /** Saved activation bytes by dtype after the last forward call (the end of forward). */
  activationByDtype: ByDtype | null = null;
  #peak = 0;
  #activation = 0;

  constructor(readonly alloc: Allocator) {}

  enter(): void {
    const r = this.alloc.report();
    this.#peak = r.peak;
    this.#activation = r.live.activation;
  }

  leave(phase: "forward" | "backward", name: string): void {
    const r = this.alloc.report();
    if (phase === "forward") {
      this.saved.set(name, r.live.activation - this.#activation);
      this.activationByDtype = r.activationByDtype;
    }
    if (r.peak > this.#peak) {
      this.peakAt = `${phase}:${name}`;
      this.peakSeen = r.peak;
    }
  }
}

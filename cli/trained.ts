/**
 * Wiring shared by the commands that use a trained model (eval, sample, fill-mask, export): the
 * checkpoint a `--checkpoint` names (a run folder's newest, or one step folder, verified against
 * its manifest), the model config and run settings saved in it, its weights, and a GPU.
 * @module
 */
import { TempoError } from "../core/errors.ts";
import { acquireGpu, type Gpu } from "../core/gpu.ts";
import { type CheckpointRef, findCheckpoint } from "../core/train/checkpoint.ts";
import type { HostTensor } from "../core/train/safetensors.ts";
import { readCheckpointWeights } from "../core/train/weights.ts";
import { type ModelConfig, validateConfig } from "../models/config.ts";
import type { RunSettings } from "./run_settings.ts";

/** A checkpoint with what the commands read from it. */
export interface Trained {
  /** The verified checkpoint. */
  ref: CheckpointRef;
  /** Its model config (as the run resolved it). */
  cfg: ModelConfig;
  /** Its run's settings (batch, sequence length, data, Tempo switches, seed). */
  settings: RunSettings;
  /** Its weights by name. */
  weights: Record<string, HostTensor>;
}

/** Open `--checkpoint path` (see the module doc). */
export async function openTrained(path: string): Promise<Trained> {
  const ref = await findCheckpoint(path, "--checkpoint");
  const run = ref.state.run as { config?: ModelConfig; settings?: RunSettings };
  if (!run?.config || !run.settings) {
    throw new TempoError(
      `--checkpoint ${ref.dir}: the checkpoint carries no model config or run settings`,
      "it was not written by this version of tempo",
    );
  }
  validateConfig(run.config);
  return {
    ref,
    cfg: run.config,
    settings: run.settings,
    weights: await readCheckpointWeights(ref),
  };
}

/** A hint for weights that do not fit the saved config (a damaged or foreign checkpoint). */
export const WEIGHTS_HINT = "the checkpoint's weights do not fit its own config; was it edited?";

/** Run `body` on a GPU that is destroyed afterwards. */
export async function withGpu<T>(body: (gpu: Gpu) => Promise<T>): Promise<T> {
  const gpu = await acquireGpu();
  try {
    return await body(gpu);
  } finally {
    gpu.device.destroy();
  }
}

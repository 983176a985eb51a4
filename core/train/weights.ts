/**
 * Weights without the optimizer: a committed checkpoint's `model.safetensors` (verified against
 * its manifest) read by name, and host tensors written into a model's parameters by name, for the
 * commands that use a trained model (eval, sample, fill-mask, export) and for initialising a run
 * from another model's weights. A tensor missing or of another shape is refused, the first few
 * named, before anything is written.
 * @module
 */
import type { Encoder } from "../encoder.ts";
import { TempoError } from "../errors.ts";
import type { Tensor } from "../tensor.ts";
import { CHECKPOINT_FILES, type CheckpointRef } from "./checkpoint.ts";
import { readVerified } from "./manifest.ts";
import { joinPath } from "./run_folder.ts";
import { decodeSafetensors, type HostTensor } from "./safetensors.ts";

/** How many mismatches a refusal lists. */
const LISTED = 5;

/** The weights of a found checkpoint by name (the file is checked against the manifest first). */
export async function readCheckpointWeights(
  ref: CheckpointRef,
): Promise<Record<string, HostTensor>> {
  const file = CHECKPOINT_FILES.model;
  const bytes = await readVerified(ref.dir, ref.manifest, file);
  return decodeSafetensors(bytes, joinPath(ref.dir, file)).tensors;
}

/** A parameter to fill: its name and value tensor. */
export interface NamedTensor {
  /** Name (the key in `tensors`). */
  name: string;
  /** Where the values go. */
  value: Tensor;
}

/** `a, b, c and 4 more`. */
export function listFew(items: readonly string[], n = LISTED): string {
  const shown = items.slice(0, n).join(", ");
  return items.length > n ? `${shown} and ${items.length - n} more` : shown;
}

/**
 * Write `tensors[p.name]` into every parameter. Throws one TempoError, before writing anything,
 * when some are missing or have another number of elements: `what` names the source (e.g. the
 * checkpoint's folder) and `hint` says what to do.
 */
export function loadWeights(
  enc: Encoder,
  params: readonly NamedTensor[],
  tensors: Readonly<Record<string, HostTensor>>,
  what: string,
  hint: string,
): void {
  const missing: string[] = [], shapes: string[] = [];
  for (const p of params) {
    const h = Object.hasOwn(tensors, p.name) ? tensors[p.name] : undefined;
    if (!h) missing.push(p.name);
    else if (h.data.length !== p.value.size) {
      shapes.push(`${p.name} is [${h.shape}], the model's [${p.value.shape}]`);
    }
  }
  const problems: string[] = [];
  if (missing.length) problems.push(`lacks ${listFew(missing)}`);
  if (shapes.length) problems.push(`has other shapes: ${listFew(shapes)}`);
  if (problems.length) {
    throw new TempoError(`${what} does not match the model: it ${problems.join("; it ")}`, hint);
  }
  for (const p of params) enc.write(p.value, tensors[p.name].data);
}

/**
 * Starting a tempo model from a Hugging Face folder (`pretrain --init-from`): its config.json
 * must describe the chosen model (architecture, heads, sizes, activation, LayerNorm epsilon) and
 * its tensors must be the layout's (layout.ts), else one TempoError lists the first differences
 * and names the `--model` and `--config` that match the folder. Weights only; the optimizer
 * starts fresh.
 * @module
 */
import type { Encoder } from "../../core/encoder.ts";
import { TempoError } from "../../core/errors.ts";
import { loadWeights, type NamedTensor } from "../../core/train/weights.ts";
import type { ModelConfig } from "../config.ts";
import { configDifferences, matchingPreset } from "./config.ts";
import { fromHf } from "./convert.ts";
import { HF_CONFIG, readHfFolder } from "./folder.ts";
import { hfLayout } from "./layout.ts";

/** What an import reports. */
export interface HfImport {
  /** Lines for the user: tensors the model does not use, positions without an HF row. */
  notes: string[];
  /** The folder's config.json `architectures[0]`, if any. */
  architecture: string | null;
}

/** The `--model` / `--config` flags of the preset nearest to a config.json. */
function flagsFor(j: Record<string, unknown>): string {
  const m = matchingPreset(j);
  if (!m) return "";
  const over = Object.keys(m.overrides).length ? ` --config '${JSON.stringify(m.overrides)}'` : "";
  return `--model ${m.model}${over}`;
}

/** Load `dir`'s weights into `params` of a model of `cfg` (see the module doc). */
export async function initFromHf(
  dir: string,
  cfg: ModelConfig,
  enc: Encoder,
  params: readonly (NamedTensor & { shape: readonly number[] })[],
): Promise<HfImport> {
  const folder = await readHfFolder(dir, "--init-from");
  const flags = flagsFor(folder.config);
  const hint = flags
    ? `the folder matches ${flags}`
    : "choose --model and --config to match the folder's config.json";
  const diff = configDifferences(folder.config, cfg);
  if (diff.length) {
    throw new TempoError(
      `--init-from ${dir}: its ${HF_CONFIG} describes another model than ${cfg.name}: ${
        diff.slice(0, 5).join(", ")
      }`,
      hint,
    );
  }
  const pad = folder.config.pad_token_id;
  const layout = hfLayout(cfg, { padId: typeof pad === "number" ? pad : null });
  const got = fromHf(layout, folder.tensors, params, `--init-from ${dir}`, hint);
  loadWeights(enc, params, got.tensors, `--init-from ${dir}`, hint);
  const notes = [...got.notes];
  if (got.unused.length) {
    const few = got.unused.slice(0, 4).join(", ") + (got.unused.length > 4 ? ", ..." : "");
    notes.push(`${got.unused.length} tensors of the folder are not used by ${cfg.name} (${few})`);
  }
  const arch = Array.isArray(folder.config.architectures) ? folder.config.architectures[0] : null;
  return { notes, architecture: typeof arch === "string" ? arch : null };
}

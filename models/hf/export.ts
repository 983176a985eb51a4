/**
 * A tempo model as a Hugging Face checkpoint: the layout's tensors (layout.ts) and config.json
 * (config.ts) from the model's weights by name. The caller writes them (folder.ts) with the
 * tokenizer files.
 * @module
 */
import type { HostTensor } from "../../core/train/safetensors.ts";
import type { ModelConfig } from "../config.ts";
import { hfConfig, type HfConfigJson, type HfSpecials } from "./config.ts";
import { toHf } from "./convert.ts";
import { type HfLayout, hfLayout } from "./layout.ts";

/** What an export produces. */
export interface HfExport {
  /** The layout used. */
  layout: HfLayout;
  /** model.safetensors' tensors, in module order. */
  tensors: Record<string, HostTensor>;
  /** config.json. */
  config: HfConfigJson;
  /** Notes for the user. */
  notes: string[];
}

/**
 * The HF checkpoint of `cfg` with `weights` (tempo's parameters by name). `seqLen` is the
 * sequence length the model was trained at: RoBERTa exports position rows for at least that many
 * tokens.
 */
export function exportHf(
  cfg: ModelConfig,
  weights: Readonly<Record<string, HostTensor>>,
  specials: HfSpecials,
  seqLen: number,
): HfExport {
  const notes: string[] = [];
  let positions: number | undefined;
  if (cfg.arch === "roberta") {
    positions = Math.max(cfg.maxPositions - 2, Math.min(seqLen, cfg.maxPositions));
    if (positions < cfg.maxPositions) {
      notes.push(
        `RoBERTa numbers positions from pad + 1: tempo's position rows 0..${positions - 1} are ` +
          `HF's ${(specials.padId ?? 1) + 1}.., rows ${positions}..${
            cfg.maxPositions - 1
          } (beyond the run's sequence length) are not exported`,
      );
    }
  }
  const layout = hfLayout(cfg, { padId: specials.padId, positions });
  return { layout, tensors: toHf(layout, weights), config: hfConfig(cfg, layout, specials), notes };
}

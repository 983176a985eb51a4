/**
 * `tempo export`: a checkpoint as a Hugging Face model folder that Transformers loads with
 * `from_pretrained` unchanged (models/hf/: names, layouts, config.json), plus the tokenizer's
 * files where it has a Hugging Face equivalent (datasets/hf_tokenizer_files.ts).
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import pc from "picocolors";
import type { Tokenizer } from "../datasets/tokenizer.ts";
import { HF_TOKENIZER_FILE_NAMES, hfTokenizerFiles } from "../datasets/hf_tokenizer_files.ts";
import { tokenizerByName } from "../datasets/tokenizer_by_name.ts";
import { archOf } from "../models/arch.ts";
import type { HfSpecials } from "../models/hf/config.ts";
import { exportHf } from "../models/hf/export.ts";
import { HF_CONFIG, HF_WEIGHTS, writeHfFolder } from "../models/hf/folder.ts";
import { openTrained } from "./trained.ts";

/** What an export wrote. */
export interface ExportReport {
  /** The folder. */
  out: string;
  /** Files written. */
  files: string[];
  /** config.json architectures[0]. */
  architecture: string;
  /** Tensors in model.safetensors. */
  tensors: number;
  /** Notes (tokenizer, positions). */
  notes: string[];
}

/** The `export` command. */
export function exportCommand() {
  return new Command("export")
    .description("write a checkpoint as a Hugging Face model folder (from_pretrained loads it)")
    .requiredOption(
      "--checkpoint <dir>",
      "a run folder (its newest checkpoint) or one step-NNNNNN folder",
    )
    .requiredOption("--out <dir>", "the folder to write (new, empty, or an earlier export)")
    .action(async (o) => {
      const r = await exportCheckpoint(o);
      console.log(
        `wrote ${r.out}: ${r.files.join(", ")} (${r.architecture}, ${r.tensors} tensors)`,
      );
      for (const n of r.notes) console.log(pc.dim(`note: ${n}`));
      const auto = r.architecture.endsWith("LMHeadModel")
        ? "AutoModelForCausalLM"
        : "AutoModelForMaskedLM";
      console.log(`load it with transformers.${auto}.from_pretrained(${JSON.stringify(r.out)})`);
    });
}

/** Options of `exportCheckpoint` (the parsed flags). */
export type ExportOptions = ReturnType<ReturnType<typeof exportCommand>["opts"]>;

/** The special ids config.json names, from the model's tokenizer. */
function specialsOf(tokenizer: Tokenizer, lm: boolean): HfSpecials {
  return lm ? { padId: tokenizer.padId ?? null, bosId: tokenizer.eotId, eosId: tokenizer.eotId } : {
    padId: tokenizer.padId ?? null,
    bosId: tokenizer.clsId ?? null,
    eosId: tokenizer.sepId ?? null,
  };
}

/** Export a checkpoint (see the module doc). */
export async function exportCheckpoint(o: ExportOptions): Promise<ExportReport> {
  const t = await openTrained(o.checkpoint);
  const cfg = t.cfg, lm = archOf(cfg).objective === "lm";
  const tokenizer = tokenizerByName(cfg.tokenizer);
  const x = exportHf(cfg, t.weights, specialsOf(tokenizer, lm), t.settings.seqLen);
  const maxLength = cfg.arch === "roberta" ? cfg.maxPositions - 2 : cfg.maxPositions;
  const files = hfTokenizerFiles(tokenizer, { maxLength });
  const notes = [...x.notes];
  if (!files) {
    notes.push(
      `no tokenizer files: tempo's ${tokenizer.name} tokenizer (ids 0..255 are UTF-8 bytes, ` +
        `256 <pad>, 257 <s>, 258 </s>, 259 <mask>) has no Hugging Face equivalent; give the model ` +
        `those ids directly`,
    );
  }
  const written = await writeHfFolder(o.out, x.tensors, x.config, files ?? {}, [
    HF_WEIGHTS,
    HF_CONFIG,
    ...HF_TOKENIZER_FILE_NAMES,
  ]);
  return {
    out: o.out,
    files: written,
    architecture: x.layout.architecture,
    tensors: Object.keys(x.tensors).length,
    notes,
  };
}

/**
 * `tempo fill-mask`: the most likely tokens at each mask of a text, for BERT and RoBERTa
 * checkpoints (the tokenizer's mask token: BERT's `[MASK]`, RoBERTa's and the bytes tokenizer's
 * `<mask>`), with their probabilities, as Hugging Face's fill-mask pipeline gives them: each mask
 * predicted in one forward over the whole text, the other masks left masked.
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import { TempoError } from "../core/errors.ts";
import { loadWeights } from "../core/train/weights.ts";
import { encodeWithMasks } from "../datasets/mask_text.ts";
import { tokenizerByName } from "../datasets/tokenizer_by_name.ts";
import { archOf } from "../models/arch.ts";
import { InferenceModel } from "../models/inference.ts";
import { parseIntFlag } from "./format.ts";
import { openTrained, WEIGHTS_HINT, withGpu } from "./trained.ts";

/** One candidate at a mask. */
export interface Candidate {
  /** Token id. */
  id: number;
  /** Its text (as the tokenizer decodes it alone). */
  token: string;
  /** Softmax probability. */
  p: number;
}

/** The `fill-mask` command. */
export function fillMaskCommand() {
  return new Command("fill-mask")
    .description("the most likely tokens at each [MASK] (<mask>) of a text, BERT and RoBERTa")
    .argument("<text>", 'text with mask tokens, e.g. "the [MASK] of the sea"')
    .requiredOption(
      "--checkpoint <dir>",
      "a run folder (its newest checkpoint) or one step-NNNNNN folder",
    )
    .option("--top-k <k>", "candidates per mask", parseIntFlag("top-k"), 5)
    .option("--json", "print JSON (one array of candidates per mask) instead of text")
    .action(async (text, o) => {
      const masks = await fillMask(text, o);
      if (o.json) {
        console.log(JSON.stringify(masks));
        return;
      }
      masks.forEach((cands, m) => {
        if (masks.length > 1) console.log(`mask ${m + 1}:`);
        for (const c of cands) {
          console.log(`  ${c.p.toFixed(4)}  ${JSON.stringify(c.token)}  (id ${c.id})`);
        }
      });
    });
}

/** Options of `fillMask` (the parsed flags). */
export type FillMaskOptions = ReturnType<ReturnType<typeof fillMaskCommand>["opts"]>;

/** The top-k candidates at each mask of `text`. */
export async function fillMask(text: string, o: FillMaskOptions): Promise<Candidate[][]> {
  const t = await openTrained(o.checkpoint);
  if (archOf(t.cfg).objective !== "mlm") {
    throw new TempoError(
      `fill-mask is for BERT and RoBERTa models; ${t.cfg.name} is ${t.cfg.arch}`,
      "use `tempo sample` for GPT-2 models",
    );
  }
  const tokenizer = tokenizerByName(t.cfg.tokenizer);
  const row = encodeWithMasks(tokenizer, text);
  return await withGpu(async (gpu) => {
    const model = new InferenceModel(
      t.cfg,
      new Allocator({ device: gpu.device }),
      new Encoder(gpu),
    );
    loadWeights(model.enc, model.params.list, t.weights, t.ref.dir, WEIGHTS_HINT);
    const V = t.cfg.vocabSize;
    const logits = await model.forward(Int32Array.from(row.ids), Int32Array.from(row.masks));
    model.dispose();
    return row.masks.map((_, m) => {
      const l = logits.subarray(m * V, (m + 1) * V);
      let mx = -Infinity, sum = 0;
      for (const v of l) mx = Math.max(mx, v);
      for (const v of l) sum += Math.exp(v - mx);
      // Ids beyond the tokenizer's (a padded vocabulary) are in the softmax but never shown.
      const shown = Math.min(V, tokenizer.vocabSize);
      const ids = Array.from({ length: shown }, (_, i) => i).sort((a, b) => l[b] - l[a] || a - b);
      return ids.slice(0, o.topK).map((id) => ({
        id,
        token: tokenizer.decode([id]),
        p: Math.exp(l[id] - mx) / sum,
      }));
    });
  });
}

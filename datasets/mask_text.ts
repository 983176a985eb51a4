/**
 * The input of a fill-mask query: text with mask tokens written in it ("the [MASK] of the sea",
 * RoBERTa's and the bytes tokenizer's "<mask>") as one MLM row, framed as the training rows are
 * ([CLS] text [SEP], datasets/mlm_loader.ts), with the positions of the masks. RoBERTa's mask
 * absorbs the space before it, as Hugging Face's `<mask>` token does (lstrip), so that the word
 * after keeps its own leading space ("Ġof"). Pieces BERT cannot spell ([UNK]) are refused by name.
 * @module
 */
import { DatasetError } from "./errors.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** The mask token as written in text, by tokenizer. */
export function maskTextOf(tokenizer: Tokenizer): string | null {
  switch (tokenizer.name) {
    case "bert":
      return "[MASK]";
    case "roberta":
    case "bytes":
      return "<mask>";
    default:
      return null;
  }
}

/** A fill-mask row. */
export interface MaskedRow {
  /** [CLS] ids [SEP]. */
  ids: number[];
  /** Positions of the masks in `ids`, in order. */
  masks: number[];
}

/** Encode `text` with its mask tokens (see the module doc). */
export function encodeWithMasks(tokenizer: Tokenizer, text: string): MaskedRow {
  const mask = maskTextOf(tokenizer);
  const { clsId, sepId, maskId } = tokenizer;
  if (mask === null || clsId === undefined || sepId === undefined || maskId === undefined) {
    throw new DatasetError(
      `the ${tokenizer.name} tokenizer has no mask token: fill-mask is for BERT and RoBERTa models`,
    );
  }
  const parts = text.split(mask);
  if (parts.length < 2) {
    throw new DatasetError(
      `the text has no ${mask}: write ${mask} where a token is to be predicted, e.g. "the ${mask} of the sea"`,
    );
  }
  const ids = [clsId], masks: number[] = [];
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    const piece = tokenizer.name === "roberta" && !last ? part.replace(/\s+$/, "") : part;
    const enc = tokenizer.encode(piece);
    if (tokenizer.unkId !== undefined && tokenizer.name === "bert") {
      const unknown = piece.split(/\s+/).filter((w) =>
        w && tokenizer.encode(w).includes(tokenizer.unkId!)
      );
      if (unknown.length) {
        throw new DatasetError(
          `${unknown.map((w) => `"${w}"`).join(", ")} cannot be spelled in the ${tokenizer.name} ` +
            `vocabulary (it encodes to [UNK]); rephrase without it`,
        );
      }
    }
    ids.push(...enc);
    if (!last) {
      masks.push(ids.length);
      ids.push(maskId);
    }
  });
  ids.push(sepId);
  return { ids, masks };
}

/**
 * RoBERTa: GPT-2 byte-level BPE with RoBERTa's specials placed first.
 *
 * Id mapping (V = 50261 = 5 specials + 50256 GPT-2 ordinary ids):
 *   0 `<s>`, 1 `<pad>`, 2 `</s>`, 3 `<unk>`, 4 `<mask>`;
 *   GPT-2 id g in [0, 50255] -> g + 5.
 * GPT-2's `<|endoftext|>` (50256) has no RoBERTa id: `</s>` separates documents instead.
 * This is self-consistent for pretraining from scratch; it is NOT the id order of the published
 * fairseq/Hugging Face roberta-base checkpoints (V = 50265, frequency-ordered).
 *
 * @module
 */

import { checkIds } from "./check_ids.ts";
import { GPT2_EOT_ID, gpt2DecodeUnchecked, gpt2EncodeOrdinary } from "./gpt2_tokenizer.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** Number of RoBERTa specials placed before the GPT-2 ids. */
export const ROBERTA_OFFSET = 5;
/** RoBERTa's vocabulary size under this mapping: 5 + 50256. */
export const ROBERTA_VOCAB_SIZE: number = ROBERTA_OFFSET + GPT2_EOT_ID;
const SPECIAL_TEXT = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"];

/** The RoBERTa tokenizer (see the module doc for the id mapping). */
export class RobertaTokenizer implements Tokenizer {
  /** Registry name. */
  readonly name: "roberta" = "roberta";
  /** V = 50261. */
  readonly vocabSize: number = ROBERTA_VOCAB_SIZE;
  /** `<s>` = 0, the sequence start. */
  readonly clsId = 0;
  /** `<pad>` = 1. */
  readonly padId = 1;
  /** `</s>` = 2, the sequence end and document separator. */
  readonly sepId = 2;
  /** `</s>` = 2. */
  readonly eotId = 2;
  /** `<unk>` = 3 (never produced by encode: the BPE is byte-level). */
  readonly unkId = 3;
  /** `<mask>` = 4. */
  readonly maskId = 4;
  /** 0..4. */
  readonly specialIds: readonly number[] = [0, 1, 2, 3, 4];

  /** Plain text -> ids (GPT-2 ids + 5). */
  encode(text: string): number[] {
    const ids = gpt2EncodeOrdinary(text);
    for (let i = 0; i < ids.length; i++) ids[i] += ROBERTA_OFFSET;
    return ids;
  }

  /** Ids -> text; specials decode to their names, e.g. `<mask>`. */
  decode(ids: ArrayLike<number>): string {
    checkIds(ids, this.vocabSize, "roberta decode");
    let out = "";
    let run: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id < ROBERTA_OFFSET) {
        // Decode ordinary runs together so multi-byte characters split across tokens survive.
        out += gpt2DecodeUnchecked(run) + SPECIAL_TEXT[id];
        run = [];
      } else {
        run.push(id - ROBERTA_OFFSET);
      }
    }
    return out + gpt2DecodeUnchecked(run);
  }
}

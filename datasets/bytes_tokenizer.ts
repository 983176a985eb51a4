/**
 * A tiny byte-level tokenizer for tests and small demo models: ids 0..255 are the UTF-8 bytes of
 * the text, then four specials: 256 `<pad>`, 257 `<s>`, 258 `</s>` (also the document separator),
 * 259 `<mask>`. V = 260.
 *
 * @module
 */

import { checkIds } from "./check_ids.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** Vocabulary size of the bytes tokenizer: 256 bytes + 4 specials. */
export const BYTES_VOCAB_SIZE = 260;
const SPECIAL_TEXT = ["<pad>", "<s>", "</s>", "<mask>"];

/** The bytes tokenizer (see the module doc for the ids). */
export class BytesTokenizer implements Tokenizer {
  /** Registry name. */
  readonly name: "bytes" = "bytes";
  /** V = 260. */
  readonly vocabSize: number = BYTES_VOCAB_SIZE;
  /** `<pad>` = 256. */
  readonly padId = 256;
  /** `<s>` = 257. */
  readonly clsId = 257;
  /** `</s>` = 258. */
  readonly sepId = 258;
  /** `</s>` = 258. */
  readonly eotId = 258;
  /** `<mask>` = 259. */
  readonly maskId = 259;
  /** 256..259. */
  readonly specialIds: readonly number[] = [256, 257, 258, 259];
  readonly #encoder = new TextEncoder();

  /** Plain text -> its UTF-8 bytes. */
  encode(text: string): number[] {
    return Array.from(this.#encoder.encode(text));
  }

  /** Ids -> text; invalid UTF-8 becomes U+FFFD, specials decode to their names. */
  decode(ids: ArrayLike<number>): string {
    checkIds(ids, this.vocabSize, "bytes decode");
    const decoder = new TextDecoder();
    let out = "";
    let run: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= 256) {
        out += decoder.decode(new Uint8Array(run)) + SPECIAL_TEXT[id - 256];
        run = [];
      } else {
        run.push(id);
      }
    }
    return out + decoder.decode(new Uint8Array(run));
  }
}

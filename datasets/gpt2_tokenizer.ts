/**
 * GPT-2 byte-level BPE (the r50k_base encoding of `gpt-tokenizer`): V = 50257, `<|endoftext|>` =
 * 50256.
 *
 * @module
 */

import { decode as r50kDecode, encode as r50kEncode } from "gpt-tokenizer/encoding/r50k_base";
import { checkIds } from "./check_ids.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** GPT-2's vocabulary size. */
export const GPT2_VOCAB_SIZE = 50257;
/** GPT-2's `<|endoftext|>` id. */
export const GPT2_EOT_ID = 50256;

// An empty disallowed set makes `<|endoftext|>` in the text plain characters, not an error.
const ORDINARY = { disallowedSpecial: new Set<string>() };

/** Plain text -> GPT-2 ids (no special ids are ever produced). */
export function gpt2EncodeOrdinary(text: string): number[] {
  return r50kEncode(text, ORDINARY);
}

/** GPT-2 ids -> text, without range checks (callers check). */
export function gpt2DecodeUnchecked(ids: Iterable<number>): string {
  return r50kDecode(ids);
}

/** The GPT-2 tokenizer. Byte-level, so it never needs an unknown token. */
export class Gpt2Tokenizer implements Tokenizer {
  /** Registry name. */
  readonly name: "gpt2" = "gpt2";
  /** V = 50257. */
  readonly vocabSize: number = GPT2_VOCAB_SIZE;
  /** `<|endoftext|>`. */
  readonly eotId: number = GPT2_EOT_ID;
  /** Only `<|endoftext|>`. */
  readonly specialIds: readonly number[] = [GPT2_EOT_ID];

  /** Plain text -> ids; `<|endoftext|>` written in the text is encoded as ordinary characters. */
  encode(text: string): number[] {
    return gpt2EncodeOrdinary(text);
  }

  /** Ids -> text; 50256 decodes to `<|endoftext|>`. */
  decode(ids: ArrayLike<number>): string {
    checkIds(ids, this.vocabSize, "gpt2 decode");
    return gpt2DecodeUnchecked(Array.from(ids));
  }
}

/**
 * Text from token ids as they come (streamed generation): each call returns the text that is
 * final so far. Byte-level tokenizers (bytes, GPT-2, RoBERTa) may split one UTF-8 character
 * across tokens; their bytes go through a streaming UTF-8 decoder, which holds an incomplete
 * character back until the token that completes it (or `flush`, which shows an unfinished one as
 * U+FFFD, as `decode` does). Specials are written as their names, as `decode` writes them. BERT's
 * WordPiece pieces are joined with spaces, "##" continuations glued, as its `decode` does.
 * @module
 */
import { bertVocab } from "./bert_tokenizer.ts";
import { checkIds } from "./check_ids.ts";
import { GPT2_ORDINARY, gpt2TokenBytes } from "./gpt2_pieces.ts";
import { ROBERTA_OFFSET } from "./roberta_tokenizer.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** Streams the text of ids (see the module doc). */
export class StreamDecoder {
  #utf8 = new TextDecoder("utf-8", { fatal: false });
  #started = false;
  readonly #pieces: string[] | null;

  constructor(readonly tokenizer: Tokenizer) {
    this.#pieces = tokenizer.name === "bert" ? bertVocab() : null;
  }

  /** The bytes of a byte-level id, or null for a special (written by name). */
  #bytes(id: number): Uint8Array | null {
    switch (this.tokenizer.name) {
      case "bytes":
        return id < 256 ? Uint8Array.of(id) : null;
      case "gpt2":
        return id < GPT2_ORDINARY ? gpt2TokenBytes(id) : null;
      case "roberta":
        return id >= ROBERTA_OFFSET ? gpt2TokenBytes(id - ROBERTA_OFFSET) : null;
      default:
        return null;
    }
  }

  /** Add one id; returns the text that became final. */
  push(id: number): string {
    checkIds([id], this.tokenizer.vocabSize, `${this.tokenizer.name} decode`);
    if (this.#pieces) {
      const piece = this.#pieces[id];
      const out = piece.startsWith("##") ? piece.slice(2) : (this.#started ? " " : "") + piece;
      this.#started = true;
      return out;
    }
    const bytes = this.#bytes(id);
    if (bytes) return this.#utf8.decode(bytes, { stream: true });
    return this.flush() + this.tokenizer.decode([id]);
  }

  /** The text still held back (an unfinished character, as U+FFFD). */
  flush(): string {
    return this.#utf8.decode();
  }
}

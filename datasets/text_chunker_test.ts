import assert from "node:assert/strict";
import { BertTokenizer } from "./bert_tokenizer.ts";
import { Gpt2Tokenizer } from "./gpt2_tokenizer.ts";
import { safeCut, TextChunker } from "./text_chunker.ts";

const TEXT = "Call me  Ishmael.\n\nSome years ago—never mind how long—\n   having little\t\tor " +
  "no money in my purse,\r\nand nothing particular... 'tis  123 456\n\n\nCHAPTER 2.  The end \n";

function pieces(text: string, target: number): string[] {
  const c = new TextChunker(target);
  const out: string[] = [];
  for (let i = 0; i < text.length; i += 3) {
    const p = c.push(text.slice(i, i + 3));
    if (p) out.push(p);
  }
  out.push(c.flush());
  return out;
}

Deno.test("safeCut finds the last whitespace before a non-whitespace character", () => {
  assert.equal(safeCut("ab cd"), 2);
  assert.equal(safeCut("ab  cd  "), 3);
  assert.equal(safeCut("abcd"), -1);
  assert.equal(safeCut(""), -1);
});

Deno.test("chunked text concatenates back and tokenizes exactly like the whole text", () => {
  const gpt2 = new Gpt2Tokenizer();
  const bert = new BertTokenizer();
  for (const target of [1, 5, 17, 1000]) {
    const ps = pieces(TEXT, target);
    assert.equal(ps.join(""), TEXT);
    if (target < 100) assert.ok(ps.length > 3, `target ${target} should cut`);
    assert.deepEqual(ps.flatMap((p) => gpt2.encode(p)), gpt2.encode(TEXT), `gpt2 @${target}`);
    assert.deepEqual(ps.flatMap((p) => bert.encode(p)), bert.encode(TEXT), `bert @${target}`);
  }
});

Deno.test("text without whitespace is held, then cut once it is very long", () => {
  const c = new TextChunker(4);
  assert.equal(c.push("abcdefgh"), "");
  assert.equal(c.push("x".repeat(60)), "abcdefgh" + "x".repeat(60));
  assert.equal(c.flush(), "");
});

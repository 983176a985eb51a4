import assert from "node:assert/strict";
import { bertBasicTokenize } from "./bert_basic.ts";

Deno.test("basic tokenizer lowercases, strips accents and splits punctuation", () => {
  assert.deepEqual(bertBasicTokenize("Hello, World!"), ["hello", ",", "world", "!"]);
  assert.deepEqual(bertBasicTokenize("  Café  naïve\tÉLAN\n"), ["cafe", "naive", "elan"]);
  assert.deepEqual(bertBasicTokenize("don't-stop..."), [
    "don",
    "'",
    "t",
    "-",
    "stop",
    ".",
    ".",
    ".",
  ]);
});

Deno.test("basic tokenizer isolates CJK ideographs and drops control characters", () => {
  assert.deepEqual(bertBasicTokenize("ab日本cd"), ["ab", "日", "本", "cd"]);
  assert.deepEqual(bertBasicTokenize("\uf900x"), ["\u8c48", "x"]); // Compatibility ideograph.
  assert.deepEqual(bertBasicTokenize("a\ue000b\u0378c"), ["abc"]); // Private use, unassigned.
  assert.deepEqual(bertBasicTokenize("a\u0000b\u200bc\ufffd d"), ["abc", "d"]);
  assert.deepEqual(bertBasicTokenize("a\u00a0b\u2003c"), ["a", "b", "c"]);
  assert.deepEqual(bertBasicTokenize("¿qué? «sí»"), ["¿", "que", "?", "«", "si", "»"]);
  assert.deepEqual(bertBasicTokenize(""), []);
});

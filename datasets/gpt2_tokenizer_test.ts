import assert from "node:assert/strict";
import { DatasetError } from "./errors.ts";
import { Gpt2Tokenizer } from "./gpt2_tokenizer.ts";

const tok = new Gpt2Tokenizer();

Deno.test("gpt2 encodes 'Hello world' to the known ids and decodes back", () => {
  assert.deepEqual(tok.encode("Hello world"), [15496, 995]);
  assert.equal(tok.decode([15496, 995]), "Hello world");
  assert.equal(tok.vocabSize, 50257);
  assert.equal(tok.eotId, 50256);
  assert.equal(tok.decode([tok.eotId]), "<|endoftext|>");
});

Deno.test("gpt2 round-trips unicode and whitespace exactly", () => {
  const text = "  Tabs\tand\nnewlines — naïve café 🐋 日本語 <|endoftext|>\n\n";
  const ids = tok.encode(text);
  assert.equal(tok.decode(ids), text);
  assert.ok(!ids.includes(tok.eotId), "special text must stay ordinary");
});

Deno.test("gpt2 decode rejects ids outside the vocabulary", () => {
  assert.throws(() => tok.decode([1, 50257]), DatasetError);
  assert.throws(() => tok.decode([-1]), /position 0/);
});

import assert from "node:assert/strict";
import { DatasetError } from "./errors.ts";
import { RobertaTokenizer } from "./roberta_tokenizer.ts";

const tok = new RobertaTokenizer();

Deno.test("roberta ids are GPT-2 ids shifted by 5 after the 5 specials", () => {
  assert.deepEqual(tok.encode("Hello world"), [15496 + 5, 995 + 5]);
  assert.equal(tok.vocabSize, 50261);
  assert.deepEqual(
    [tok.clsId, tok.padId, tok.sepId, tok.unkId, tok.maskId, tok.eotId],
    [0, 1, 2, 3, 4, 2],
  );
});

Deno.test("roberta decodes specials by name and round-trips multi-byte text", () => {
  const ids = [tok.clsId, ...tok.encode("Hi 🐋 there"), tok.maskId, tok.sepId];
  assert.equal(tok.decode(ids), "<s>Hi 🐋 there<mask></s>");
  const text = "naïve — 日本語\n";
  assert.equal(tok.decode(tok.encode(text)), text);
  assert.ok(tok.encode("<s></s><mask>").every((id) => id >= 5));
});

Deno.test("roberta decode rejects ids outside the vocabulary", () => {
  assert.throws(() => tok.decode([50261]), DatasetError);
});

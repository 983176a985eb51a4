import assert from "node:assert/strict";
import { BytesTokenizer } from "./bytes_tokenizer.ts";
import { DatasetError } from "./errors.ts";

const tok = new BytesTokenizer();

Deno.test("bytes tokenizer encodes UTF-8 bytes and round-trips", () => {
  assert.deepEqual(tok.encode("Hi"), [72, 105]);
  assert.deepEqual(tok.encode("é"), [0xc3, 0xa9]);
  const text = "naïve 🐋\n";
  assert.equal(tok.decode(tok.encode(text)), text);
  assert.equal(tok.vocabSize, 260);
});

Deno.test("bytes tokenizer decodes specials by name", () => {
  assert.equal(
    tok.decode([tok.clsId, 72, tok.maskId, 105, tok.sepId, tok.padId]),
    "<s>H<mask>i</s><pad>",
  );
  assert.throws(() => tok.decode([260]), DatasetError);
});

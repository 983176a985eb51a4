import assert from "node:assert/strict";
import { DatasetError } from "./errors.ts";
import { tokenizerByName } from "./tokenizer_by_name.ts";
import { TOKENIZER_NAMES } from "./tokenizer.ts";

Deno.test("tokenizerByName returns each named tokenizer with a consistent vocabulary", () => {
  const sizes: Record<string, number> = { gpt2: 50257, bert: 30522, roberta: 50261, bytes: 260 };
  for (const name of TOKENIZER_NAMES) {
    const tok = tokenizerByName(name);
    assert.equal(tok.name, name);
    assert.equal(tok.vocabSize, sizes[name]);
    assert.strictEqual(tokenizerByName(name), tok);
    for (const id of tok.specialIds) assert.ok(id >= 0 && id < tok.vocabSize);
    assert.ok(tok.specialIds.includes(tok.eotId));
    const ids = tok.encode("The whale.");
    assert.ok(ids.length > 0 && ids.every((id) => id < tok.vocabSize));
    assert.ok(ids.every((id) => !tok.specialIds.includes(id)));
  }
});

Deno.test("tokenizerByName rejects unknown names and lists the known ones", () => {
  assert.throws(() => tokenizerByName("gpt3"), DatasetError);
  assert.throws(() => tokenizerByName("gpt3"), /gpt2, bert, roberta, bytes/);
});

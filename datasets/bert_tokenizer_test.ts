import assert from "node:assert/strict";
import { BertTokenizer, bertVocab } from "./bert_tokenizer.ts";
import { DatasetError } from "./errors.ts";

const tok = new BertTokenizer();
const vocab = bertVocab();

Deno.test("bert vocabulary is bert-base-uncased in WordPiece notation", () => {
  assert.equal(vocab.length, 30522);
  assert.equal(new Set(vocab).size, 30522);
  assert.deepEqual(
    [vocab[0], vocab[1], vocab[100], vocab[101], vocab[102], vocab[103], vocab[999]],
    ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!"],
  );
  assert.equal(vocab[2015], "##s");
  assert.equal(vocab[1996], "the");
});

Deno.test("bert encodes 'hello world' to the known ids", () => {
  assert.deepEqual(tok.encode("hello world"), [7592, 2088]);
  assert.deepEqual(tok.encode("Hello, World!"), [7592, 1010, 2088, 999]);
  assert.equal(tok.vocabSize, 30522);
  assert.deepEqual([tok.padId, tok.unkId, tok.clsId, tok.sepId, tok.maskId], [
    0,
    100,
    101,
    102,
    103,
  ]);
});

Deno.test("bert splits unknown words into greedy longest-match pieces", () => {
  const ids = tok.encode("unaffable");
  assert.deepEqual(ids.map((i) => vocab[i]), ["una", "##ffa", "##ble"]);
  assert.equal(tok.decode(ids), "unaffable");
});

Deno.test("bert maps unencodable words to [UNK] and keeps special text ordinary", () => {
  assert.deepEqual(tok.encode("a 🐋 b").map((i) => vocab[i]), ["a", "[UNK]", "b"]);
  assert.deepEqual(tok.encode("x".repeat(101)), [100]);
  assert.deepEqual(tok.encode("[MASK]").map((i) => vocab[i]), ["[", "mask", "]"]);
});

Deno.test("bert decode joins pieces; the round trip is lowercased and punctuation-spaced", () => {
  assert.equal(tok.decode(tok.encode("Hello, World! Café")), "hello , world ! cafe");
  assert.equal(tok.decode([101, 7592, 102]), "[CLS] hello [SEP]");
  assert.throws(() => tok.decode([30522]), DatasetError);
});

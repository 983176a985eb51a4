import { gpt2Spelling } from "./gpt2_pieces.ts";
import { gpt2EncodeOrdinary } from "./gpt2_tokenizer.ts";
import { hfTokenizerFiles } from "./hf_tokenizer_files.ts";
import { tokenizerByName } from "./tokenizer_by_name.ts";

/** Byte-pair merging of one pre-token as Hugging Face's BPE does, from the exported files. */
function bpe(word: string, ranks: Map<string, number>): string[] {
  let parts = Array.from(word);
  for (;;) {
    let best = -1, bestRank = Infinity;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = ranks.get(`${parts[i]} ${parts[i + 1]}`);
      if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
    }
    if (best < 0) return parts;
    parts = [...parts.slice(0, best), parts[best] + parts[best + 1], ...parts.slice(best + 2)];
  }
}

Deno.test("GPT-2 vocab.json and merges.txt are GPT-2's and reproduce its tokenization", () => {
  const files = hfTokenizerFiles(tokenizerByName("gpt2"), { maxLength: 1024 })!;
  const lines = files["merges.txt"].split("\n");
  // The published merges.txt: "#version: 0.2", 50,000 rules, first and last ones as below.
  const head = ["#version: 0.2", "Ġ t", "Ġ a", "h e", "i n", "r e", "o n", "Ġt he", "e r", "Ġ s"];
  if (lines.slice(0, 10).join("|") !== head.join("|")) {
    throw new Error(lines.slice(0, 10).join("|"));
  }
  if (lines.length !== 50002 || lines[50000] !== "Ġg azed" || lines[50001] !== "") {
    throw new Error(`${lines.length} lines, last ${lines[50000]}`);
  }
  const vocab = JSON.parse(files["vocab.json"]) as Record<string, number>;
  const want = { "!": 0, "Ġthe": 262, "Ġgazed": 50255, "<|endoftext|>": 50256, "Ā": 188 };
  for (const [k, v] of Object.entries(want)) {
    if (vocab[k] !== v) throw new Error(`${k}: ${vocab[k]}`);
  }
  if (Object.keys(vocab).length !== 50257) throw new Error(`${Object.keys(vocab).length} entries`);
  const ranks = new Map(lines.slice(1, -1).map((l, i) => [l, i]));
  for (const word of [" whale", " Ishmael", " harpooneer", " Nantucket", "ing", " ©", " 鯨"]) {
    const ids = bpe(gpt2Spelling(new TextEncoder().encode(word)), ranks).map((p) => vocab[p]);
    if (ids.join() !== gpt2EncodeOrdinary(word).join()) {
      throw new Error(`${word}: files give ${ids}, gpt-tokenizer ${gpt2EncodeOrdinary(word)}`);
    }
  }
});

Deno.test("BERT vocab.txt, RoBERTa's tempo ids, and no files for the bytes tokenizer", () => {
  const bert = hfTokenizerFiles(tokenizerByName("bert"), { maxLength: 512 })!;
  const lines = bert["vocab.txt"].split("\n");
  const at = {
    0: "[PAD]",
    1: "[unused0]",
    100: "[UNK]",
    101: "[CLS]",
    102: "[SEP]",
    103: "[MASK]",
  };
  for (const [i, w] of Object.entries(at)) {
    if (lines[+i] !== w) throw new Error(`${i}: ${lines[+i]}`);
  }
  if (lines.length !== 30523 || JSON.parse(bert["tokenizer_config.json"]).do_lower_case !== true) {
    throw new Error(`${lines.length} lines`);
  }
  const rob = hfTokenizerFiles(tokenizerByName("roberta"), { maxLength: 512 })!;
  const v = JSON.parse(rob["vocab.json"]) as Record<string, number>;
  const tok = tokenizerByName("roberta");
  if (v["<mask>"] !== 4 || v["Ġthe"] !== tok.encode(" the")[0] || v["!"] !== 5) {
    throw new Error(`roberta: <mask> ${v["<mask>"]}, Ġthe ${v["Ġthe"]}`);
  }
  if (Object.keys(v).length !== tok.vocabSize) throw new Error(`${Object.keys(v).length} entries`);
  if (hfTokenizerFiles(tokenizerByName("bytes"), { maxLength: 128 }) !== null) {
    throw new Error("bytes has no HF tokenizer");
  }
});

import { DatasetError } from "./errors.ts";
import { encodeWithMasks } from "./mask_text.ts";
import { tokenizerByName } from "./tokenizer_by_name.ts";

Deno.test("encodeWithMasks: [CLS] text [SEP] with the tokenizer's mask id at each mask", () => {
  const bert = tokenizerByName("bert");
  const b = encodeWithMasks(bert, "the [MASK] of the sea");
  const want = [101, ...bert.encode("the"), 103, ...bert.encode("of the sea"), 102];
  if (b.ids.join() !== want.join() || b.masks.join() !== "2") {
    throw new Error(`${b.ids} ${b.masks}`);
  }
  // RoBERTa's <mask> takes the space before it; the next word keeps its own ("Ġof").
  const rob = tokenizerByName("roberta");
  const r = encodeWithMasks(rob, "the <mask> of the <mask>");
  const wantR = [0, ...rob.encode("the"), 4, ...rob.encode(" of the"), 4, 2];
  if (r.ids.join() !== wantR.join() || r.masks.join() !== "2,5") {
    throw new Error(`${r.ids} ${r.masks}`);
  }
  const bytes = encodeWithMasks(tokenizerByName("bytes"), "a<mask>c");
  if (bytes.ids.join() !== "257,97,259,99,258" || bytes.masks.join() !== "2") {
    throw new Error(`${bytes.ids}`);
  }
});

Deno.test("encodeWithMasks refuses text without a mask, GPT-2, and BERT's unknown pieces", () => {
  const refused = (f: () => unknown, re: RegExp) => {
    try {
      f();
    } catch (e) {
      if (e instanceof DatasetError && re.test(e.message)) return;
      throw e;
    }
    throw new Error(`accepted; expected ${re}`);
  };
  refused(() => encodeWithMasks(tokenizerByName("bert"), "no mask here"), /has no \[MASK\]/);
  refused(() => encodeWithMasks(tokenizerByName("gpt2"), "a <mask>"), /no mask token/);
  refused(
    () => encodeWithMasks(tokenizerByName("bert"), "the 🐳 [MASK]"),
    /"🐳" cannot be spelled/,
  );
});

import { StreamDecoder } from "./stream_decoder.ts";
import { tokenizerByName } from "./tokenizer_by_name.ts";

/** Push ids one by one: the pieces, and their sum with the flush. */
function stream(name: string, ids: number[]): { pieces: string[]; text: string } {
  const d = new StreamDecoder(tokenizerByName(name));
  const pieces = ids.map((id) => d.push(id));
  return { pieces, text: pieces.join("") + d.flush() };
}

Deno.test("StreamDecoder: characters split across tokens come out whole, once complete", () => {
  const text = "Call me Ishmael — 鯨 🐳!";
  for (const name of ["bytes", "gpt2", "roberta", "bert"]) {
    const tok = tokenizerByName(name);
    const ids = tok.encode(text);
    const { pieces, text: got } = stream(name, ids);
    if (got !== tok.decode(ids)) throw new Error(`${name}: "${got}" != "${tok.decode(ids)}"`);
    if (pieces.some((p) => p.includes("\uFFFD"))) throw new Error(`${name}: a piece has U+FFFD`);
  }
  // The bytes of "é" (c3 a9): nothing after the first, the character after the second.
  const { pieces } = stream("bytes", [0x41, 0xc3, 0xa9, 257]);
  if (pieces.join("|") !== "A||é|<s>") throw new Error(pieces.join("|"));
  // An unfinished character at the end is flushed as U+FFFD, as decode shows it.
  if (stream("bytes", [0xe2, 0x80]).text !== "\uFFFD") throw new Error("flush");
  // GPT-2 splits the whale emoji over several byte tokens.
  const whale = tokenizerByName("gpt2").encode("🐳");
  if (whale.length < 2) throw new Error("expected a split emoji");
  const w = stream("gpt2", whale);
  if (w.pieces.at(-1) !== "🐳" || w.pieces.slice(0, -1).join("") !== "") {
    throw new Error(w.pieces.join("|"));
  }
});

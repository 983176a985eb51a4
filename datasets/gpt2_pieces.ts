/**
 * GPT-2's byte-level BPE as files other tools read: each id's bytes (from the r50k_base rank
 * table of the `gpt-tokenizer` package, where rank = GPT-2 id), the printable-character mapping
 * of bytes that GPT-2's `encoder.json` / Hugging Face's `vocab.json` spell tokens in (every byte
 * that is not a printable Latin-1 character is shifted to 256 + n, so a space is "Ġ"), and the
 * merge rules of `vocab.bpe` / `merges.txt`, recovered from the ranks: the pair a token is made
 * of is what byte-pair merging of its own bytes, with only lower-ranked merges, leaves last.
 * @module
 */
import ranks from "gpt-tokenizer/bpeRanks/r50k_base";

/** GPT-2's ordinary ids: 0 .. 50255 (50256 is `<|endoftext|>`). */
export const GPT2_ORDINARY = 50256;

const encoder = new TextEncoder();
let bytesById: Uint8Array[] | null = null;

/** The bytes of GPT-2 ordinary id `id` (0 <= id < 50256). */
export function gpt2TokenBytes(id: number): Uint8Array {
  bytesById ??= (ranks as (string | number[])[]).map((r) =>
    typeof r === "string" ? encoder.encode(r) : Uint8Array.from(r)
  );
  const b = bytesById[id];
  if (!b) throw new RangeError(`GPT-2 id ${id} is not an ordinary token`);
  return b;
}

let byteChars: string[] | null = null;

/** GPT-2's printable character of each byte (bytes_to_unicode of GPT-2's encoder.py). */
export function gpt2ByteChars(): readonly string[] {
  if (byteChars) return byteChars;
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out = new Array<string>(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    out[b] = String.fromCodePoint(printable(b) ? b : 256 + shifted++);
  }
  return byteChars = out;
}

/** A token's bytes spelled in GPT-2's printable characters (`Ġthe`). */
export function gpt2Spelling(bytes: Uint8Array): string {
  const chars = gpt2ByteChars();
  let s = "";
  for (const b of bytes) s += chars[b];
  return s;
}

/**
 * The merge rules in rank order, as pairs of token spellings (`["Ġ", "t"]`): pair i makes
 * ordinary id 256 + i.
 */
export function gpt2Merges(): [string, string][] {
  // Tokens as Latin-1 strings of their bytes: concatenation and lookup stay cheap.
  const key = (b: Uint8Array) => String.fromCharCode(...b);
  const keys: string[] = [];
  const rankOf = new Map<string, number>();
  for (let id = 0; id < GPT2_ORDINARY; id++) {
    keys.push(key(gpt2TokenBytes(id)));
    rankOf.set(keys[id], id);
  }
  const chars = gpt2ByteChars();
  const spell = (k: string) => Array.from(k, (c) => chars[c.charCodeAt(0)]).join("");
  const merges: [string, string][] = [];
  for (let id = 256; id < GPT2_ORDINARY; id++) {
    let parts = Array.from(keys[id]);
    for (;;) {
      let best = -1, bestRank = id;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = rankOf.get(parts[i] + parts[i + 1]);
        if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), parts[best] + parts[best + 1], ...parts.slice(best + 2)];
    }
    if (parts.length !== 2) {
      throw new Error(`GPT-2 token ${id} does not split into one merge (${parts.length} parts)`);
    }
    merges.push([spell(parts[0]), spell(parts[1])]);
  }
  return merges;
}

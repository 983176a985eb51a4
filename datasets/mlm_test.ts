import assert from "node:assert/strict";
import { BertTokenizer } from "./bert_tokenizer.ts";
import { DatasetError } from "./errors.ts";
import { Gpt2Tokenizer } from "./gpt2_tokenizer.ts";
import { maskedPerSeqFor, Masker, mlmSpecials } from "./mlm.ts";
import { Rng } from "./rng.ts";

const specials = mlmSpecials(new BertTokenizer());
const T = 64;

/** A row [CLS] w w ... [SEP] w ... [SEP] [PAD]..., with `real` real tokens. */
function row(real: number, seed: number): { ids: Int32Array; attention: Int32Array } {
  const rng = new Rng(seed);
  const ids = new Int32Array(T);
  const attention = new Int32Array(T);
  for (let t = 0; t < real; t++) {
    ids[t] = t === 0 ? 101 : t === real - 1 || t === 20 ? 102 : 1000 + rng.int(29000);
    attention[t] = 1;
  }
  return { ids, attention };
}

Deno.test("mlmSpecials needs [CLS]/[SEP]/[PAD]/[MASK]", () => {
  assert.deepEqual(
    [specials.clsId, specials.sepId, specials.padId, specials.maskId],
    [101, 102, 0, 103],
  );
  assert.throws(() => mlmSpecials(new Gpt2Tokenizer()), DatasetError);
  assert.throws(() => mlmSpecials(new Gpt2Tokenizer()), /"gpt2".*"bert", "roberta" or "bytes"/);
  assert.equal(maskedPerSeqFor(128, 0.15), 20);
  assert.equal(maskedPerSeqFor(512, 0.15), 77);
});

Deno.test("masking statistics: 15% of candidates, 80/10/10, specials and padding untouched", () => {
  const P = maskedPerSeqFor(T, 0.15);
  const masker = new Masker(specials, 0.15, P);
  let candidates = 0;
  let masked = 0;
  let toMask = 0;
  let toRandom = 0;
  let unchanged = 0;
  const rows = 3000;
  for (let s = 0; s < rows; s++) {
    const real = 30 + (s % 35); // 30..64 real tokens, the rest padding.
    const { ids, attention } = row(real, s);
    const original = ids.slice();
    const positions = new Int32Array(P);
    const labels = new Int32Array(P);
    const n = masker.maskRow(ids, attention, new Rng(1e6 + s), positions, labels, 5 * T);
    const cand = real - 3; // [CLS], the [SEP] at 20 and the final [SEP] are not candidates.
    candidates += cand;
    masked += n;
    assert.equal(n, Math.min(P, Math.max(1, Math.round(0.15 * cand))));
    const chosen = new Set<number>();
    for (let k = 0; k < P; k++) {
      if (k >= n) {
        assert.equal(labels[k], -1);
        assert.equal(positions[k], 5 * T, "unused slots point at the row's position 0");
        continue;
      }
      const t = positions[k] - 5 * T;
      assert.ok(
        t > 0 && t < real && !chosen.has(t) && (k === 0 || positions[k] > positions[k - 1]),
      );
      chosen.add(t);
      assert.equal(labels[k], original[t], "labels are the original tokens");
      assert.ok(![0, 100, 101, 102, 103].includes(original[t]), "specials are never masked");
      if (ids[t] === 103) toMask++;
      else if (ids[t] === original[t]) unchanged++;
      else {
        toRandom++;
        assert.ok(ids[t] >= 0 && ids[t] < 30522 && ![0, 100, 101, 102, 103].includes(ids[t]));
      }
    }
    for (let t = 0; t < T; t++) if (!chosen.has(t)) assert.equal(ids[t], original[t]);
  }
  assert.ok(Math.abs(masked / candidates - 0.15) < 0.01, `masked fraction ${masked / candidates}`);
  // Binomial bounds, 5 standard deviations.
  const within = (k: number, p: number) =>
    Math.abs(k - p * masked) < 5 * Math.sqrt(masked * p * (1 - p));
  assert.ok(within(toMask, 0.8), `[MASK] ${toMask / masked}`);
  // A random replacement equals the original with probability ~1/30000; it then counts as unchanged.
  assert.ok(within(toRandom, 0.1), `random ${toRandom / masked}`);
  assert.ok(within(unchanged, 0.1), `unchanged ${unchanged / masked}`);
});

Deno.test("masking is a deterministic function of the row and the rng", () => {
  const masker = new Masker(specials, 0.15, 10);
  const run = (seed: number) => {
    const { ids, attention } = row(64, 4);
    const pos = new Int32Array(10);
    const lab = new Int32Array(10);
    masker.maskRow(ids, attention, new Rng(seed), pos, lab, 0);
    return [Array.from(ids), Array.from(pos), Array.from(lab)];
  };
  assert.deepEqual(run(1), run(1));
  assert.notDeepEqual(run(1), run(2));
});

Deno.test("a row with nothing to mask fills every slot with ignore labels", () => {
  const masker = new Masker(specials, 0.15, 4);
  const ids = new Int32Array([101, 102, 0, 0]);
  const attention = new Int32Array([1, 1, 0, 0]);
  const pos = new Int32Array(4);
  const lab = new Int32Array(4);
  assert.equal(masker.maskRow(ids, attention, new Rng(1), pos, lab, 8), 0);
  assert.deepEqual(Array.from(lab), [-1, -1, -1, -1]);
  assert.deepEqual(Array.from(pos), [8, 8, 8, 8]);
  assert.throws(() => new Masker(specials, 1.5, 4), /Mask probability 1\.5/);
});

Deno.test("every candidate position is equally likely to be chosen", () => {
  const masker = new Masker(specials, 0.15, 10);
  const counts = new Array(T).fill(0);
  const rows = 3000;
  for (let s = 0; s < rows; s++) {
    const { ids, attention } = row(T, 7); // Same row, 61 candidates, 9 masked each time.
    const pos = new Int32Array(10);
    const lab = new Int32Array(10);
    const n = masker.maskRow(ids, attention, new Rng(s), pos, lab, 0);
    for (let k = 0; k < n; k++) counts[pos[k]]++;
  }
  const p = 9 / 61;
  for (let t = 0; t < T; t++) {
    if (t === 0 || t === 20 || t === T - 1) assert.equal(counts[t], 0);
    else assert.ok(Math.abs(counts[t] - rows * p) < 5 * Math.sqrt(rows * p * (1 - p)), `t=${t}`);
  }
});

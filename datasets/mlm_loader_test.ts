import assert from "node:assert/strict";
import type { TokenBatch } from "../core/train/batch.ts";
import { BertTokenizer } from "./bert_tokenizer.ts";
import { DatasetError } from "./errors.ts";
import { Gpt2Tokenizer } from "./gpt2_tokenizer.ts";
import { MlmLoader, type MlmLoaderOptions } from "./mlm_loader.ts";
import { ArrayTokenStream } from "./token_stream.ts";

const tok = new BertTokenizer(); // [PAD] 0, [CLS] 101, [SEP] 102 (also the separator), [MASK] 103.
const N = 1000;
// Distinct ids, so a row's content identifies where in the stream it came from.
const STREAM = Array.from({ length: N }, (_, i) => (i % 37 === 36 ? tok.eotId : 1000 + i));
const tokens = new ArrayTokenStream(STREAM, tok.vocabSize);

function loader(options: Partial<MlmLoaderOptions> = {}): MlmLoader {
  return new MlmLoader({ tokens, tokenizer: tok, B: 4, T: 16, seed: 5, ...options });
}

/** Input ids with the masked positions put back to their labels. */
function unmasked(batch: TokenBatch): Int32Array {
  const ids = batch.inputIds.slice();
  batch.maskedLabels!.forEach((label, k) => {
    if (label >= 0) ids[batch.maskedPositions![k]] = label;
  });
  return ids;
}

Deno.test("rows are [CLS] chunk [SEP] [PAD]..., each chunk once per epoch", () => {
  const l = loader({ masking: "static" });
  const L = 14;
  assert.equal(l.sequences, Math.ceil(N / L));
  assert.equal(l.maskedPerSeq, 3); // ceil(0.15 * 16)
  const seen = new Set<number>();
  for (let s = 0; s < l.batchesPerEpoch; s++) {
    const batch = l.next();
    assert.equal(batch.maskedPositions!.length, 4 * 3);
    assert.equal(batch.nspLabels, undefined);
    assert.ok(batch.tokenTypeIds!.every((x) => x === 0));
    const ids = unmasked(batch);
    for (let b = 0; b < 4 && seen.size < l.sequences; b++) {
      const row = Array.from(ids.subarray(b * 16, b * 16 + 16));
      const att = Array.from(batch.attentionMask!.subarray(b * 16, b * 16 + 16));
      assert.equal(row[0], tok.clsId);
      const sep = row.lastIndexOf(tok.sepId, att.lastIndexOf(1));
      const content = row.slice(1, sep);
      const start = findChunk(content, L);
      assert.ok(start >= 0, "row content is a chunk of the stream");
      assert.ok(!seen.has(start), "no chunk twice in an epoch");
      seen.add(start);
      assert.equal(content.length, Math.min(L, N - start));
      assert.deepEqual(att, row.map((_, t) => (t <= sep ? 1 : 0)));
      assert.ok(row.slice(sep + 1).every((x) => x === tok.padId));
    }
  }
  assert.equal(seen.size, l.sequences);
});

function findChunk(content: number[], L: number): number {
  for (let start = 0; start < N; start += L) {
    if (
      content.every((x, t) => STREAM[start + t] === x) && content.length === Math.min(L, N - start)
    ) {
      return start;
    }
  }
  return -1;
}

Deno.test("masked labels are never special and match the stream", () => {
  const l = loader();
  for (let s = 0; s < 40; s++) {
    const batch = l.next();
    batch.maskedLabels!.forEach((label, k) => {
      if (label < 0) return;
      assert.ok(label >= 1000, "specials (incl. in-stream separators) are never masked");
      assert.ok(STREAM.includes(label));
      assert.equal(batch.attentionMask![batch.maskedPositions![k]], 1);
    });
  }
});

Deno.test("static masking repeats a chunk's mask every epoch; dynamic masking does not", () => {
  for (const masking of ["static", "dynamic"] as const) {
    const l = loader({ masking, shuffle: false, B: 8 });
    const rows = (batches: TokenBatch[]) =>
      batches.flatMap((b) =>
        Array.from({ length: 8 }, (_, r) => Array.from(b.inputIds.subarray(r * 16, r * 16 + 16)))
      ).slice(0, l.sequences);
    const e0 = rows(Array.from({ length: l.batchesPerEpoch }, () => l.next()));
    // The next epoch starts mid-batch when sequences % B != 0; restart cleanly instead.
    const l2 = loader({ masking, shuffle: false, B: 8 });
    l2.restore({ ...l2.state(), epoch: 1, cursor: 0, step: 1000 });
    const e1 = rows(Array.from({ length: l.batchesPerEpoch }, () => l2.next()));
    const same = e0.filter((r, i) => JSON.stringify(r) === JSON.stringify(e1[i])).length;
    if (masking === "static") assert.equal(same, l.sequences);
    else assert.ok(same < l.sequences / 4, `dynamic: ${same} of ${l.sequences} rows repeat`);
  }
});

Deno.test("batches are a deterministic function of the seed", () => {
  for (const masking of ["static", "dynamic"] as const) {
    const a = loader({ masking, nsp: true });
    const b = loader({ masking, nsp: true });
    const c = loader({ masking, nsp: true, seed: 6 });
    for (let s = 0; s < 5; s++) {
      const x = a.next();
      assert.deepEqual(b.next(), x);
      assert.notDeepEqual(c.next(), x);
    }
  }
});

Deno.test("a restored loader yields exactly the batches the original would have", () => {
  for (const options of [{ masking: "static" }, { masking: "dynamic" }, { nsp: true }] as const) {
    const a = loader(options);
    for (let i = 0; i < 23; i++) a.next(); // Past the first epoch (18 batches).
    const saved = JSON.parse(JSON.stringify(a.state()));
    const expected = Array.from({ length: 20 }, () => a.next());
    const b = loader(options);
    b.restore(saved);
    for (const e of expected) assert.deepEqual(b.next(), e);
  }
});

Deno.test("NSP rows: [CLS] A [SEP] B [SEP], segment ids, half the B segments are random", () => {
  const l = loader({ nsp: true, B: 8 });
  const L = 13;
  let random = 0;
  let rows = 0;
  for (let s = 0; s < 60; s++) {
    const batch = l.next();
    const ids = unmasked(batch);
    for (let b = 0; b < 8; b++) {
      const row = Array.from(ids.subarray(b * 16, b * 16 + 16));
      const types = Array.from(batch.tokenTypeIds!.subarray(b * 16, b * 16 + 16));
      const att = Array.from(batch.attentionMask!.subarray(b * 16, b * 16 + 16));
      const end = att.lastIndexOf(1) + 1;
      const firstSep = types.indexOf(1) - 1;
      assert.equal(row[0], tok.clsId);
      assert.equal(row[firstSep], tok.sepId);
      assert.equal(row[end - 1], tok.sepId);
      assert.deepEqual(types, row.map((_, t) => (t > firstSep && t < end ? 1 : 0)));
      const a = row.slice(1, firstSep);
      const bSeg = row.slice(firstSep + 1, end - 1);
      assert.ok(a.length >= 1 && bSeg.length >= 1 && a.length + bSeg.length <= L);
      const aStart = findChunk13(a);
      assert.ok(aStart >= 0, "A starts a chunk");
      const label = batch.nspLabels![b];
      if (label === 0) {
        assert.deepEqual(bSeg, STREAM.slice(aStart + a.length, aStart + a.length + bSeg.length));
        assert.equal(a.length + bSeg.length, Math.min(L, N - aStart), "A + B is the whole chunk");
      } else {
        random++;
        const bStart = findChunk13(bSeg);
        assert.ok(bStart >= 0 && bStart !== aStart, "B starts another chunk");
      }
      rows++;
    }
  }
  assert.ok(Math.abs(random - rows / 2) < 5 * Math.sqrt(rows / 4), `random ${random}/${rows}`);
});

function findChunk13(prefix: number[]): number {
  for (let start = 0; start < N; start += 13) {
    if (prefix.every((x, t) => STREAM[start + t] === x)) return start;
  }
  return -1;
}

Deno.test("bad settings and mismatched checkpoints are clear errors", () => {
  assert.throws(() => loader({ tokenizer: new Gpt2Tokenizer() }), /no \[CLS\]\/\[SEP\]/);
  assert.throws(() => loader({ T: 2 }), /Sequence length T must be an integer >= 3/);
  assert.throws(() => loader({ T: 4, nsp: true }), DatasetError);
  assert.throws(
    () => loader({ tokens: new ArrayTokenStream([1, 2, 3]), nsp: true }),
    /at least 2 chunks/,
  );
  assert.throws(() => loader({ masking: "sometimes" as "static" }), /Unknown masking/);
  const a = loader({ masking: "static" });
  assert.throws(() => loader({ masking: "dynamic" }).restore(a.state()), /masking="static"/);
  const bad = new MlmLoader({
    tokens: new ArrayTokenStream([1, 2, 40000]),
    tokenizer: tok,
    B: 1,
    T: 8,
  });
  assert.throws(() => bad.next(), /token id 40000 at position 2/);
});

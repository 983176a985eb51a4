import assert from "node:assert/strict";
import type { BatchSlice, TokenBatch } from "../core/train/batch.ts";
import { BertTokenizer } from "./bert_tokenizer.ts";
import { CausalLoader } from "./causal_loader.ts";
import { EpochOrder } from "./epoch_order.ts";
import { DatasetError } from "./errors.ts";
import { MlmLoader, type MlmLoaderOptions } from "./mlm_loader.ts";
import { ArrayTokenStream } from "./token_stream.ts";

const tok = new BertTokenizer();
// A short stream, so that global batches cross epoch boundaries within a few steps.
const STREAM = Array.from({ length: 700 }, (_, i) => (i % 23 === 22 ? tok.eotId : 1000 + i));
const tokens = new ArrayTokenStream(STREAM, tok.vocabSize);
const B = 3, T = 12;

/** Row b of a batch, everything a model sees of it (masked positions made row-relative). */
function row(batch: TokenBatch, b: number): string {
  const T = batch.T, cut = (a?: Int32Array) => a ? [...a.subarray(b * T, (b + 1) * T)] : null;
  const P = batch.maskedPositions ? batch.maskedPositions.length / batch.B : 0;
  const pos = batch.maskedPositions?.subarray(b * P, (b + 1) * P);
  return JSON.stringify({
    ids: cut(batch.inputIds),
    targets: cut(batch.targets),
    att: cut(batch.attentionMask),
    types: cut(batch.tokenTypeIds),
    positions: pos ? [...pos].map((p) => p - b * T) : null,
    labels: batch.maskedLabels ? [...batch.maskedLabels.subarray(b * P, (b + 1) * P)] : null,
    nsp: batch.nspLabels ? batch.nspLabels[b] : null,
  });
}

const rows = (batch: TokenBatch) => Array.from({ length: batch.B }, (_, b) => row(batch, b));

/**
 * N ranks x A micro-batches of B against one loader of batch N * A * B, for `steps` global
 * batches: every rank's micro-batches are its rows of the global batch, and every rank's state
 * between steps is the same.
 */
function checkSlices(
  make: (b: number, slice?: BatchSlice) => CausalLoader | MlmLoader,
  N: number,
  A: number,
  steps: number,
): void {
  const whole = make(N * A * B);
  const ranks = Array.from(
    { length: N },
    (_, r) => make(B, { parts: N * A, first: r * A, count: A }),
  );
  for (let s = 0; s < steps; s++) {
    const want = rows(whole.next());
    const got = ranks.flatMap((l) => Array.from({ length: A }, () => rows(l.next())).flat());
    assert.deepEqual(got, want, `step ${s}`);
    const states = ranks.map((l) => JSON.stringify(l.state()));
    assert.ok(states.every((x) => x === states[0]), `step ${s}: ranks' states differ`);
    const { epoch, cursor } = whole.state();
    assert.deepEqual([ranks[0].state().epoch, ranks[0].state().cursor], [epoch, cursor]);
    assert.equal(ranks[0].step, (s + 1) * N * A);
  }
}

Deno.test("EpochOrder.skip(k) lands where k calls of next() do, across epochs", () => {
  for (const k of [0, 1, 6, 7, 8, 20, 29]) {
    const a = new EpochOrder(7, 3, true), b = new EpochOrder(7, 3, true);
    a.next(), b.next();
    for (let i = 0; i < k; i++) a.next();
    b.skip(k);
    assert.deepEqual(b.position, a.position, `k = ${k}`);
    assert.equal(b.next(), a.next(), `k = ${k}: the item after`);
  }
});

Deno.test("CausalLoader slices: ranks x micro-batches get the rows of the global batch", () => {
  const make = (b: number, slice?: BatchSlice) =>
    new CausalLoader({ tokens, B: b, T, seed: 4, slice });
  checkSlices(make, 2, 1, 12); // 58 windows: 36 rows per step x 12 crosses epochs
  checkSlices(make, 2, 2, 6);
  checkSlices(make, 3, 1, 9);
});

Deno.test("MlmLoader slices: same rows, dynamic masks and NSP pairs as the global batch", () => {
  for (const options of [{ masking: "dynamic" }, { masking: "static" }, { nsp: true }] as const) {
    const make = (b: number, slice?: BatchSlice) =>
      new MlmLoader(
        { tokens, tokenizer: tok, B: b, T, seed: 9, slice, ...options } as MlmLoaderOptions,
      );
    checkSlices(make, 2, 1, 10);
    checkSlices(make, 2, 2, 5);
  }
});

Deno.test("a sliced loader resumes from its state; a state mid global batch is refused", () => {
  const slice = { parts: 4, first: 2, count: 2 };
  const a = new MlmLoader({ tokens, tokenizer: tok, B, T, seed: 2, slice });
  for (let i = 0; i < 6; i++) a.next();
  const saved = a.state();
  const b = new MlmLoader({ tokens, tokenizer: tok, B, T, seed: 2, slice });
  b.restore(saved);
  for (let i = 0; i < 4; i++) assert.deepEqual(rows(b.next()), rows(a.next()), `batch ${i}`);
  a.next();
  assert.throws(() => a.state(), /inside a global batch/);
  // A state 3 micro-batches into the global stream is no boundary of 4-part global batches.
  assert.throws(() => b.restore({ ...saved, step: 3 }), DatasetError);
  for (const bad of [{ parts: 2, first: 1, count: 2 }, { parts: 0, first: 0, count: 1 }]) {
    assert.throws(() => new CausalLoader({ tokens, B, T, slice: bad }), DatasetError);
  }
});

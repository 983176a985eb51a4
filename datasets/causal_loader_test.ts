import assert from "node:assert/strict";
import { CausalLoader } from "./causal_loader.ts";
import { DatasetError } from "./errors.ts";
import { ArrayTokenStream } from "./token_stream.ts";

const N = 1001;
const tokens = new ArrayTokenStream(range(N).map((i) => i % 500));

Deno.test("rows are windows of the stream with next-token targets", () => {
  const l = new CausalLoader({ tokens: new ArrayTokenStream(range(N)), B: 4, T: 10, seed: 1 });
  assert.equal(l.windows, 100);
  assert.equal(l.batchesPerEpoch, 25);
  for (let s = 0; s < 25; s++) {
    const batch = l.next();
    assert.equal(batch.B, 4);
    assert.equal(batch.T, 10);
    assert.equal(batch.inputIds.length, 40);
    assert.equal(batch.targets!.length, 40);
    for (let b = 0; b < 4; b++) {
      const start = batch.inputIds[b * 10]; // Token i has id i.
      assert.equal(start % 10, 0, "windows start at multiples of T");
      for (let t = 0; t < 10; t++) {
        assert.equal(batch.inputIds[b * 10 + t], start + t);
        assert.equal(batch.targets![b * 10 + t], start + t + 1);
      }
    }
  }
  assert.equal(l.epoch, 0);
  l.next();
  assert.equal(l.epoch, 1, "the 26th batch starts epoch 1");
});

Deno.test("one epoch visits every window once, shuffled, deterministically from the seed", () => {
  const starts = (seed: number, shuffle = true) => {
    const l = new CausalLoader({
      tokens: new ArrayTokenStream(range(N)),
      B: 5,
      T: 10,
      seed,
      shuffle,
    });
    const out: number[] = [];
    for (let s = 0; s < 20; s++) {
      const b = l.next();
      for (let r = 0; r < 5; r++) out.push(b.inputIds[r * 10]);
    }
    return out;
  };
  const a = starts(3);
  assert.deepEqual([...a].sort((x, y) => x - y), range(100).map((w) => w * 10));
  assert.notDeepEqual(a, range(100).map((w) => w * 10));
  assert.deepEqual(starts(3), a);
  assert.notDeepEqual(starts(4), a);
  assert.deepEqual(starts(3, false), range(100).map((w) => w * 10));
});

Deno.test("a restored loader yields exactly the batches the original would have", () => {
  const make = () => new CausalLoader({ tokens, B: 3, T: 7, seed: 9 });
  const a = make();
  for (let i = 0; i < 50; i++) a.next(); // Past an epoch boundary (142 windows / 3 per batch).
  const saved = JSON.parse(JSON.stringify(a.state()));
  const expected = Array.from({ length: 60 }, () => a.next());
  const b = make();
  b.restore(saved);
  for (const e of expected) assert.deepEqual(b.next(), e);
  assert.equal(b.step, 110);
  assert.deepEqual(b.state(), a.state());
});

Deno.test("restore refuses a state from a different setup; bad shapes are clear errors", () => {
  const a = new CausalLoader({ tokens, B: 3, T: 7, seed: 9 });
  const other = new CausalLoader({ tokens, B: 3, T: 8, seed: 9 });
  assert.throws(() => other.restore(a.state()), /checkpoint has T=7 but this run has T=8/);
  assert.throws(() => a.restore({ ...a.state(), cursor: -2 }), DatasetError);
  assert.throws(() => new CausalLoader({ tokens, B: 0, T: 7 }), /Batch size B/);
  assert.throws(
    () => new CausalLoader({ tokens: new ArrayTokenStream([1, 2, 3]), B: 1, T: 3 }),
    /3 tokens, but one training window needs T \+ 1 = 4/,
  );
});

Deno.test("tokens outside the vocabulary are reported with their position", () => {
  const l = new CausalLoader({
    tokens: new ArrayTokenStream([1, 2, 3, 99, 4]),
    B: 1,
    T: 4,
    vocabSize: 50,
  });
  assert.throws(() => l.next(), /token id 99 at position 3/);
});

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

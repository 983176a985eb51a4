import assert from "node:assert/strict";
import { hash32, mixSeed, permutation, Rng } from "./rng.ts";

Deno.test("Rng is deterministic from its seed and resumable from its state", () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 10 }, () => a.nextU32());
  assert.deepEqual(xs, Array.from({ length: 10 }, () => b.nextU32()));
  assert.notDeepEqual(xs, Array.from({ length: 10 }, () => new Rng(43).nextU32()));
  const c = new Rng(new Rng(7).state);
  const d = new Rng(7);
  d.nextU32();
  const resumed = new Rng(d.state);
  c.nextU32();
  assert.equal(resumed.nextU32(), c.nextU32());
});

Deno.test("Rng.next is in [0, 1) and Rng.int is in range and roughly uniform", () => {
  const rng = new Rng(1);
  const counts = new Array(7).fill(0);
  const n = 70000;
  for (let i = 0; i < n; i++) {
    const f = rng.next();
    assert.ok(f >= 0 && f < 1);
    counts[rng.int(7)]++;
  }
  for (const c of counts) assert.ok(Math.abs(c - n / 7) < 5 * Math.sqrt(n / 7), `count ${c}`);
  const big = 3 * 4294967296 + 5;
  for (let i = 0; i < 100; i++) {
    const x = rng.int(big);
    assert.ok(Number.isInteger(x) && x >= 0 && x < big);
  }
  assert.throws(() => rng.int(0), RangeError);
});

Deno.test("mixSeed separates its parts, including the high 32 bits", () => {
  assert.equal(mixSeed(1, 2, 3), mixSeed(1, 2, 3));
  assert.notEqual(mixSeed(1, 2, 3), mixSeed(1, 3, 2));
  assert.notEqual(mixSeed(5), mixSeed(5 + 4294967296));
  assert.notEqual(hash32(0), hash32(1));
});

Deno.test("permutation is a permutation and depends on the seed", () => {
  const p = permutation(1000, new Rng(3));
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.notDeepEqual(p, permutation(1000, new Rng(4)));
  assert.deepEqual(p, permutation(1000, new Rng(3)));
  assert.equal(permutation(0, new Rng(1)).length, 0);
});

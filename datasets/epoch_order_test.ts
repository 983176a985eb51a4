import assert from "node:assert/strict";
import { EpochOrder } from "./epoch_order.ts";

function take(o: EpochOrder, n: number): number[] {
  return Array.from({ length: n }, () => o.next());
}

Deno.test("each shuffled epoch is a permutation, different per epoch, same per seed", () => {
  const o = new EpochOrder(50, 7, true);
  const e0 = take(o, 50);
  const e1 = take(o, 50);
  const sorted = Array.from({ length: 50 }, (_, i) => i);
  assert.deepEqual([...e0].sort((a, b) => a - b), sorted);
  assert.deepEqual([...e1].sort((a, b) => a - b), sorted);
  assert.notDeepEqual(e0, e1);
  assert.notDeepEqual(e0, sorted);
  assert.deepEqual(take(new EpochOrder(50, 7, true), 50), e0);
  assert.notDeepEqual(take(new EpochOrder(50, 8, true), 50), e0);
  assert.deepEqual(o.position, { epoch: 1, cursor: 50 });
});

Deno.test("unshuffled order is sequential with wrap-around", () => {
  const o = new EpochOrder(3, 1, false);
  assert.deepEqual(take(o, 7), [0, 1, 2, 0, 1, 2, 0]);
  assert.deepEqual(o.position, { epoch: 2, cursor: 1 });
});

Deno.test("seek resumes exactly where a position was read", () => {
  const a = new EpochOrder(10, 3, true);
  take(a, 23);
  const pos = a.position;
  const rest = take(a, 25);
  const b = new EpochOrder(10, 3, true);
  b.seek(pos);
  assert.deepEqual(take(b, 25), rest);
  assert.throws(() => b.seek({ epoch: 0, cursor: 11 }), RangeError);
  assert.throws(() => b.seek({ epoch: -1, cursor: 0 }), RangeError);
  assert.throws(() => new EpochOrder(0, 1, true), RangeError);
});

import assert from "node:assert/strict";
import { DatasetError } from "./errors.ts";
import { ArrayTokenStream, ConcatTokenStream } from "./token_stream.ts";

Deno.test("ArrayTokenStream reads ranges and checks the vocabulary", () => {
  const s = new ArrayTokenStream([5, 6, 7, 8]);
  const out = new Int32Array(2);
  s.read(2, out);
  assert.deepEqual(Array.from(out), [7, 8]);
  assert.throws(() => s.read(3, out), RangeError);
  assert.throws(() => new ArrayTokenStream([1, 9], 9), DatasetError);
});

Deno.test("ConcatTokenStream reads across part boundaries, skipping empty parts", () => {
  const s = new ConcatTokenStream([
    new ArrayTokenStream([0, 1]),
    new ArrayTokenStream([]),
    new ArrayTokenStream([2]),
    new ArrayTokenStream([3, 4, 5]),
  ]);
  assert.equal(s.length, 6);
  for (let start = 0; start < 6; start++) {
    for (let n = 0; start + n <= 6; n++) {
      const out = new Int32Array(n);
      s.read(start, out);
      assert.deepEqual(Array.from(out), Array.from({ length: n }, (_, i) => start + i));
    }
  }
  assert.throws(() => s.read(5, new Int32Array(2)), RangeError);
});

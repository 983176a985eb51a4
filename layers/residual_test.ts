import { assertClose, GPU_TEST, gpuFixture, randn } from "../core/testing.ts";
import { Residual } from "./residual.ts";
import { assertSavesMatch, finiteDiff, runLayer } from "./testing.ts";

const SHAPE = [5, 19]; // 95 elements: odd, not a multiple of 4
const N = 5 * 19;

/** f64 reference: y = a + b. */
function residualRef(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from(a, (v, i) => v + b[i]);
}

Deno.test("Residual reference gradient (dy to both inputs) matches central finite differences", () => {
  const a = randn(N, 1), b = randn(N, 2), dy = randn(N, 3);
  assertClose(dy, finiteDiff((v) => residualRef(v, b), a, dy), 1e-9, 1e-8, "da");
  assertClose(dy, finiteDiff((v) => residualRef(a, v), b, dy), 1e-9, 1e-8, "db");
});

Deno.test({
  name: "Residual layer: GPU vs reference, both gradients are dy itself, declared memory",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const a = randn(N, 4), b = randn(N, 5, 3), dy = randn(N, 6);
  const layer = new Residual("res", SHAPE);
  const r = await runLayer(f, layer, [], {}, [
    { data: a, shape: SHAPE },
    { data: b, shape: SHAPE },
  ], dy);
  // One correctly rounded f32 add of f32 inputs: exactly the f32 rounding of the f64 sum.
  const fa = Float32Array.from(a), fb = Float32Array.from(b);
  assertClose(r.y, Float32Array.from(residualRef(fa, fb)), 0, 0, "y");
  assertClose(r.dxs[0]!, Float32Array.from(dy), 0, 0, "da = dy");
  assertClose(r.dxs[1]!, Float32Array.from(dy), 0, 0, "db = dy");
  assertSavesMatch("residual", layer.saves(), r);
  // Keeps nothing; forward allocates only y; backward hands dy back twice (no allocation).
  if (r.savedBytes !== 0) throw new Error(`saved ${r.savedBytes}`);
  if (r.forwardPeak !== 4 * 95) throw new Error(`forward peak ${r.forwardPeak}`);
  if (r.backwardPeak !== 0) throw new Error(`backward peak ${r.backwardPeak}`);
});

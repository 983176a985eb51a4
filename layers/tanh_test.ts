import { tanhBackwardRef, tanhRef } from "../core/ops/tanh_ref.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../core/testing.ts";
import { Tanh } from "./tanh.ts";
import { assertSavesMatch, finiteDiff, runLayer } from "./testing.ts";

Deno.test({
  name: "Tanh layer: reference vs FD, GPU vs reference, keeps only its output",
  ...GPU_TEST,
}, async () => {
  const shape = [3, 37], n = 111;
  const x = randn(n, 1, 2), dy = randn(n, 2);
  assertClose(tanhBackwardRef(dy, tanhRef(x)), finiteDiff(tanhRef, x, dy), 1e-8, 1e-6, "ref vs FD");
  const f = await gpuFixture();
  const layer = new Tanh("tanh", shape);
  const r = await runLayer(f, layer, [], {}, [{ data: x, shape }], dy);
  assertClose(r.y, tanhRef(x), 1e-6, 1e-6, "y");
  assertClose(r.dxs[0]!, tanhBackwardRef(dy, tanhRef(x)), 1e-5, 1e-5, "dx");
  assertSavesMatch("tanh", layer.saves(), r);
  if (r.savedBytes !== 4 * n) throw new Error(`saved ${r.savedBytes}`);
});

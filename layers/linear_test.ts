import { matmulRef } from "../core/ops/matmul/matmul_ref.ts";
import type { StepContext } from "../core/step.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../core/testing.ts";
import { Linear } from "./linear.ts";
import { ParamStore } from "./params.ts";
import { assertSavesMatch, finiteDiff, runLayer } from "./testing.ts";

const N = 7, IN = 13, OUT = 11;

/** f64 reference: y[N,OUT] = x[N,IN] W^T + b, W [OUT,IN]. */
function linearRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null) {
  const y = matmulRef(new Float64Array(N * OUT), x, w, N, OUT, IN, { transB: true });
  if (b) { for (let i = 0; i < y.length; i++) y[i] += b[i % OUT]; }
  return y;
}

/** f64 reference gradients: dx = dy W, dW = dy^T x, db = column sums of dy. */
function linearGradRef(dy: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>) {
  const db = new Float64Array(OUT);
  for (let i = 0; i < N * OUT; i++) db[i % OUT] += dy[i];
  return {
    dx: matmulRef(new Float64Array(N * IN), dy, w, N, IN, OUT),
    dw: matmulRef(new Float64Array(OUT * IN), dy, x, OUT, IN, N, { transA: true }),
    db,
  };
}

Deno.test("Linear reference gradients match central finite differences (f64)", () => {
  const x = randn(N * IN, 1), w = randn(OUT * IN, 2), b = randn(OUT, 3), dy = randn(N * OUT, 4);
  const g = linearGradRef(dy, x, w);
  assertClose(g.dx, finiteDiff((v) => linearRef(v, w, b), x, dy), 1e-8, 1e-7, "dx");
  assertClose(g.dw, finiteDiff((v) => linearRef(x, v, b), w, dy), 1e-8, 1e-7, "dW");
  assertClose(g.db, finiteDiff((v) => linearRef(x, w, v), b, dy), 1e-8, 1e-7, "db");
});

for (const bias of [true, false]) {
  Deno.test({
    name: `Linear layer (${bias ? "with" : "no"} bias): GPU vs reference, gradients accumulate, ` +
      "declared memory",
    ...GPU_TEST,
  }, async () => {
    const f = await gpuFixture();
    const store = new ParamStore(f.alloc);
    const layer = new Linear("fc", store, N, IN, OUT, { bias });
    const x = randn(N * IN, 5),
      w = randn(OUT * IN, 6, 0.3),
      b = randn(OUT, 7),
      dy = randn(N * OUT, 8);
    const values: Record<string, Float64Array> = { "fc.weight": w };
    if (bias) values["fc.bias"] = b;
    const r = await runLayer(f, layer, store.list, values, [{ data: x, shape: [N, IN] }], dy);
    const g = linearGradRef(dy, x, w);
    // f32 dot products of at most 13 terms of O(1) values.
    assertClose(r.y, linearRef(x, w, bias ? b : null), 2e-6, 1e-5, "y");
    assertClose(r.dxs[0]!, g.dx, 2e-6, 1e-5, "dx");
    assertClose(r.grads["fc.weight"], g.dw, 2e-6, 1e-5, "dW");
    if (bias) assertClose(r.grads["fc.bias"], g.db, 2e-6, 1e-5, "db");
    else if (store.list.length !== 1) throw new Error("bias: false still made a bias");
    assertSavesMatch("linear", layer.saves(), r);
    // Keeps its input x [7,13] f32 = 364 B; forward allocates y [7,11] = 308 B, backward dx 364 B.
    if (r.savedBytes !== 364) throw new Error(`saved ${r.savedBytes}`);
    if (r.forwardPeak !== 308) throw new Error(`forward peak ${r.forwardPeak}`);
    if (r.backwardPeak !== 364) throw new Error(`backward peak ${r.backwardPeak}`);

    // A second step without zeroing adds into dW and db (micro-batch accumulation).
    const ctx: StepContext = {
      enc: f.enc,
      alloc: f.alloc,
      training: true,
      seed: 7,
      stream: 3,
      lossScale: 1,
    };
    const xT = f.upload(x, [N, IN]), dyT = f.upload(dy, [N, OUT]);
    const y = layer.forward(ctx, [xT]);
    for (const t of [...layer.backward(ctx, dyT), y, xT, dyT]) if (t) f.alloc.release(t);
    const twice = (a: Float64Array) => a.map((v) => 2 * v);
    assertClose(await f.readF32(layer.weight.grad), twice(g.dw), 4e-6, 1e-5, "2x dW");
    if (layer.bias) assertClose(await f.readF32(layer.bias.grad), twice(g.db), 4e-6, 1e-5, "2x db");
  });
}

import { layernormBackwardRef, layernormRef } from "../core/ops/layernorm_ref.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../core/testing.ts";
import { GammaGuard, LayerNorm } from "./layernorm.ts";
import { ParamStore } from "./params.ts";
import { assertSavesMatch, finiteDiff, runLayer } from "./testing.ts";

const R = 5, C = 23, EPS = 1e-5;

Deno.test("LayerNorm reference gradients match central finite differences (f64)", () => {
  const x = randn(R * C, 1),
    g = randn(C, 2, 0.5).map((v) => v + 1),
    b = randn(C, 3),
    dy = randn(R * C, 4);
  const fwd = layernormRef(x, g, b, R, C, EPS);
  const ref = layernormBackwardRef(dy, x, fwd.mean, fwd.rstd, g, R, C);
  assertClose(
    ref.dx,
    finiteDiff((v) => layernormRef(v, g, b, R, C, EPS).y, x, dy),
    1e-7,
    1e-5,
    "dx",
  );
  assertClose(
    ref.dgamma,
    finiteDiff((v) => layernormRef(x, v, b, R, C, EPS).y, g, dy),
    1e-7,
    1e-5,
    "dgamma",
  );
  assertClose(
    ref.dbeta,
    finiteDiff((v) => layernormRef(x, g, v, R, C, EPS).y, b, dy),
    1e-7,
    1e-5,
    "dbeta",
  );
});

async function run(tempo: boolean, gamma: Float64Array) {
  const f = await gpuFixture();
  const store = new ParamStore(f.alloc);
  const ln = new LayerNorm("ln", store, R, C, EPS, tempo);
  f.enc.write(ln.gamma.value, Float32Array.from(gamma));
  const guarded = (await new GammaGuard([ln]).resolve(f.enc, f.alloc)).includes("ln");
  const x = randn(R * C, 5, 3), beta = randn(C, 6), dy = randn(R * C, 7);
  const values = { "ln.weight": gamma, "ln.bias": beta };
  const out = await runLayer(f, ln, store.list, values, [{ data: x, shape: [R, C] }], dy);
  return { out, ln, x, beta, dy, guarded };
}

Deno.test({
  name: "LayerNorm layers: GPU vs reference, Tempo vs baseline, declared memory",
  ...GPU_TEST,
}, async () => {
  const gamma = randn(C, 8, 0.3).map((v) => v + 1);
  const b = await run(false, gamma), t = await run(true, gamma);
  const fwd = layernormRef(b.x, gamma, b.beta, R, C, EPS);
  const ref = layernormBackwardRef(b.dy, b.x, fwd.mean, fwd.rstd, gamma, R, C);
  assertClose(b.out.y, fwd.y, 1e-5, 1e-5, "baseline y");
  assertClose(b.out.dxs[0]!, ref.dx, 1e-4, 1e-4, "baseline dx");
  assertClose(b.out.grads["ln.weight"], ref.dgamma, 1e-4, 1e-4, "baseline dgamma");
  assertClose(b.out.grads["ln.bias"], ref.dbeta, 1e-4, 1e-4, "baseline dbeta");
  assertClose(t.out.y, b.out.y, 0, 0, "tempo y == baseline y");
  assertClose(t.out.dxs[0]!, b.out.dxs[0]!, 2e-4, 2e-4, "tempo dx vs baseline");
  assertClose(t.out.grads["ln.weight"], b.out.grads["ln.weight"], 2e-4, 2e-4, "tempo dgamma");
  assertClose(t.out.grads["ln.bias"], b.out.grads["ln.bias"], 1e-5, 1e-5, "tempo dbeta");
  assertSavesMatch("baseline", b.ln.saves(), b.out);
  assertSavesMatch("tempo", t.ln.saves(), t.out);
  // Baseline keeps x [R,C] + mean + rstd; Tempo keeps y [R,C] + rstd.
  if (b.out.savedBytes !== 4 * (R * C + 2 * R)) {
    throw new Error(`baseline saved ${b.out.savedBytes}`);
  }
  if (t.out.savedBytes !== 4 * (R * C + R)) throw new Error(`tempo saved ${t.out.savedBytes}`);
});

Deno.test({
  name: "Tempo LayerNorm with gamma = 0 in one channel: guard keeps the input, gradients finite",
  ...GPU_TEST,
}, async () => {
  const gamma = randn(C, 9, 0.3).map((v) => v + 1);
  gamma[4] = 0;
  const t = await run(true, gamma), b = await run(false, gamma);
  if (!t.guarded || !t.ln.guarded) throw new Error("guard not reported");
  if (t.out.savedBytes !== b.out.savedBytes) {
    throw new Error("guarded layer must keep its input like the baseline");
  }
  for (const v of [...t.out.dxs[0]!, ...t.out.grads["ln.weight"]]) {
    if (!Number.isFinite(v)) throw new Error("non-finite gradient");
  }
  assertClose(t.out.dxs[0]!, b.out.dxs[0]!, 0, 0, "guarded == baseline");
  assertSavesMatch("guarded", t.ln.saves(), t.out);
});

Deno.test({
  name: "gamma guard: one word ORs every watched layer's check; resolve names and guards them",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const store = new ParamStore(f.alloc);
  const lns = [0, 1, 2].map((i) => new LayerNorm(`ln${i}`, store, R, 300 + i, EPS, true));
  const base = new LayerNorm("base", store, R, 7, EPS, false);
  const guard = new GammaGuard([...lns, base]);
  const gammas = lns.map((l) => new Float32Array(l.channels).fill(0.5));
  const flagOf = async () => {
    const flag = f.alloc.alloc([guard.words()], "u32", "workspace", "flag");
    f.enc.clear(flag);
    guard.check(f.enc, flag);
    const v = (await f.readU32(flag))[0];
    f.alloc.release(flag);
    return v;
  };
  const write = () => lns.forEach((l, i) => f.enc.write(l.gamma.value, gammas[i]));
  f.enc.write(base.gamma.value, new Float32Array(7)); // a baseline LayerNorm is never checked
  write();
  if (guard.watched.length !== 3 || (await flagOf()) !== 0) throw new Error("healthy tripped");
  gammas[1][299] = -5e-4; // the last channel of the middle layer
  write();
  if ((await flagOf()) !== 1) throw new Error("tiny gamma in ln1 not flagged");
  const switched = await guard.resolve(f.enc, f.alloc);
  if (switched.join() !== "ln1" || !lns[1].guarded || lns[0].guarded || lns[2].guarded) {
    throw new Error(`resolve: ${switched}`);
  }
  if (guard.watched.map((l) => l.name).join() !== "ln0,ln2" || (await flagOf()) !== 0) {
    throw new Error("a guarded layer is still checked");
  }
  gammas[0][0] = NaN;
  gammas[2][5] = 0;
  write();
  if ((await flagOf()) !== 1) throw new Error("NaN / zero not flagged");
  if ((await guard.resolve(f.enc, f.alloc)).join() !== "ln0,ln2" || guard.words() !== 0) {
    throw new Error("second resolve");
  }
});

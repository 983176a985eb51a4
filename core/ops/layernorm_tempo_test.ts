import { assertClose, forEachKernel, GPU_TEST, gpuFixture, randn } from "../testing.ts";
import { layernormBackward, layernormForward } from "./layernorm.ts";
import { layernormRef } from "./layernorm_ref.ts";

import { layernormTempoBackwardRef, minAbsGammaFlagRef } from "./layernorm_tempo_ref.ts";
import { layernormTempoBackward, minAbsGammaFlag } from "./layernorm_tempo.ts";

const EPS = 1e-5;

function inputs(R: number, C: number, seed: number) {
  const x = randn(R * C, seed, 2).map((v, i) => v + 3 * Math.sin(Math.floor(i / C)));
  const gamma = randn(C, seed + 1, 0.5).map((v) => 1 + v);
  const beta = randn(C, seed + 2, 0.3);
  const dy = randn(R * C, seed + 3);
  return { x, gamma, beta, dy };
}

// Tempo (from y, f32) vs baseline (from x, f32) on the GPU, same forward. xhat = (y - beta) / gamma
// carries y's rounding (~6e-8 relative of |y|) divided by |gamma| >= ~0.2 here, so the two differ
// by a few 1e-6 at most: dx 5e-5 * max rstd abs + 5e-5 rel; dgamma/dbeta 2e-4 abs + 2e-5 rel.
Deno.test({
  name: "tempo layernorm backward == baseline backward (odd sizes, chunked)",
  ...GPU_TEST,
}, async () => {
  const cases: [number, number, number | undefined][] = [
    [37, 7, undefined],
    [37, 12, undefined], // vec4 in the row variant (row kept in private arrays: C <= 128)
    [4, 132, undefined], // vec4, rows not kept
    [5, 1001, undefined],
    [150, 37, 10000], // 64-row chunks: 3 chunks
    [150, 36, 10000], // vec4, 3 chunks
  ];
  await forEachKernel("layernorm", async (f, variant) => {
    for (const [R, C, maxBindingBytes] of cases) {
      const { x, gamma, beta, dy } = inputs(R, C, R + C);
      const ref = layernormRef(x, gamma, beta, R, C, EPS);
      const tx = f.upload(x, [R, C]), tg = f.upload(gamma, [C]), tb = f.upload(beta, [C]);
      const y = f.alloc.alloc([R, C], "f32", "workspace", "y");
      const mean = f.alloc.alloc([R], "f32", "workspace", "mean");
      const rstd = f.alloc.alloc([R], "f32", "workspace", "rstd");
      layernormForward(f.enc, { y, mean, rstd, x: tx, gamma: tg, beta: tb, R, C, eps: EPS });
      const tdy = f.upload(dy, [R, C]);
      const out = [];
      for (const tempo of [false, true]) {
        const dx = f.alloc.alloc([R, C], "f32", "workspace", "dx");
        const dgamma = f.upload(new Float64Array(C).fill(0.5), [C]);
        const dbeta = f.upload(new Float64Array(C).fill(-0.5), [C]);
        const grads = { dx, dgamma, dbeta, dy: tdy, rstd, gamma: tg, R, C, maxBindingBytes };
        if (tempo) layernormTempoBackward(f.enc, { ...grads, y, beta: tb });
        else layernormBackward(f.enc, { ...grads, x: tx, mean });
        out.push(await Promise.all([dx, dgamma, dbeta].map((t) => f.readF32(t))));
      }
      const what = `${variant} R=${R} C=${C}`;
      const scale = Math.max(...ref.rstd);
      assertClose(out[1][0], out[0][0], 5e-5 * scale, 5e-5, `dx tempo vs baseline ${what}`);
      assertClose(out[1][1], out[0][1], 2e-4, 2e-5, `dgamma tempo vs baseline ${what}`);
      assertClose(out[1][2], out[0][2], 2e-4, 2e-5, `dbeta tempo vs baseline ${what}`);
      // And against the f64 Tempo reference fed the f64 forward.
      const g = layernormTempoBackwardRef(dy, ref.y, ref.rstd, gamma, beta, R, C);
      assertClose(out[1][0], g.dx, 5e-5 * scale, 5e-5, `dx tempo vs reference ${what}`);
      assertClose(
        out[1][1],
        g.dgamma.map((v) => v + 0.5),
        2e-4,
        2e-5,
        `dgamma vs reference ${what}`,
      );
      assertClose(out[1][2], g.dbeta.map((v) => v - 0.5), 2e-4, 2e-5, `dbeta vs reference ${what}`);
      // In place (dx overwrites dy) gives the same bits.
      const dgamma = f.upload(new Float64Array(C).fill(0.5), [C]);
      const dbeta = f.upload(new Float64Array(C).fill(-0.5), [C]);
      const saved = { y, rstd, gamma: tg, beta: tb, R, C, maxBindingBytes };
      layernormTempoBackward(f.enc, { dx: tdy, dgamma, dbeta, dy: tdy, ...saved });
      assertClose(await f.readF32(tdy), out[1][0], 0, 0, `in place ${what}`);
    }
  });
});

Deno.test(
  { name: "tempo layernorm: tiny gamma stays finite; minAbsGammaFlag", ...GPU_TEST },
  async () => {
    await forEachKernel("layernorm", async (f) => {
      for (const C of [13, 12]) {
        const R = 9;
        const { x, beta, dy } = inputs(R, C, 5);
        const gamma = randn(C, 6).map((v) => 1 + 0.3 * v);
        gamma[2] = 0;
        gamma[5] = -1e-30;
        gamma[11] = 3e-7;
        const tx = f.upload(x, [R, C]), tg = f.upload(gamma, [C]), tb = f.upload(beta, [C]);
        const y = f.alloc.alloc([R, C], "f32", "workspace", "y");
        const rstd = f.alloc.alloc([R], "f32", "workspace", "rstd");
        layernormForward(f.enc, {
          y,
          mean: null,
          rstd,
          x: tx,
          gamma: tg,
          beta: tb,
          R,
          C,
          eps: EPS,
        });
        const dx = f.alloc.alloc([R, C], "f32", "workspace", "dx");
        const dgamma = f.upload(new Float64Array(C), [C]),
          dbeta = f.upload(new Float64Array(C), [C]);
        const tdy = f.upload(dy, [R, C]);
        layernormTempoBackward(f.enc, {
          dx,
          dgamma,
          dbeta,
          dy: tdy,
          y,
          rstd,
          gamma: tg,
          beta: tb,
          R,
          C,
        });
        for (const t of [dx, dgamma, dbeta]) {
          const v = await f.readF32(t);
          if (!v.every(Number.isFinite)) throw new Error(`non-finite ${t}`);
        }
      }
    });
    const f = await gpuFixture();
    const C = 13;
    const gamma = randn(C, 6).map((v) => 1 + 0.3 * v);
    gamma[2] = 0;
    gamma[5] = -1e-30;
    gamma[11] = 3e-7;
    const tg = f.upload(gamma, [C]);
    const flag = f.alloc.alloc([1], "u32", "workspace", "flag");
    // 1e-6: gamma[2], [5], [11] are below; 1e-35: only gamma[2] = 0; 0: none.
    for (const [threshold, want] of [[1e-6, 1], [1e-35, 1], [0, 0]]) {
      if (minAbsGammaFlagRef(gamma, threshold) !== want) throw new Error("flag reference");
      minAbsGammaFlag(f.enc, flag, tg, C, threshold);
      const got = (await f.readU32(flag))[0];
      if (got !== want) throw new Error(`flag at threshold ${threshold}: ${got} != ${want}`);
    }
    const healthy = f.upload(randn(C, 8).map((v) => 1 + 0.1 * v), [C]);
    minAbsGammaFlag(f.enc, flag, healthy, C, 1e-3);
    if ((await f.readU32(flag))[0] !== 0) throw new Error("healthy gamma flagged");
    const nan = f.upload(Float64Array.from({ length: 300 }, (_, i) => (i === 299 ? NaN : 1)), [
      300,
    ]);
    minAbsGammaFlag(f.enc, flag, nan, 300, 1e-3);
    if ((await f.readU32(flag))[0] !== 1) throw new Error("NaN gamma not flagged");
  },
);

Deno.test("tempo layernorm reference backward matches central differences (f64)", () => {
  const R = 3, C = 5, h = 1e-6;
  const { x, gamma, beta, dy: w } = inputs(R, C, 4);
  const loss = (xv: Float64Array, gv: Float64Array, bv: Float64Array) =>
    layernormRef(xv, gv, bv, R, C, EPS).y.reduce((s, v, i) => s + w[i] * v, 0);
  const fd = (v: Float64Array, at: (u: Float64Array) => number) =>
    v.map((_, i) => {
      const a = v.slice(), b = v.slice();
      a[i] += h;
      b[i] -= h;
      return (at(a) - at(b)) / (2 * h);
    });
  const ref = layernormRef(x, gamma, beta, R, C, EPS);
  const g = layernormTempoBackwardRef(w, ref.y, ref.rstd, gamma, beta, R, C);
  assertClose(g.dx, fd(x, (v) => loss(v, gamma, beta)), 1e-7, 1e-6, "FD dx");
  assertClose(g.dgamma, fd(gamma, (v) => loss(x, v, beta)), 1e-7, 1e-6, "FD dgamma");
  assertClose(g.dbeta, fd(beta, (v) => loss(x, gamma, v)), 1e-7, 1e-6, "FD dbeta");
});

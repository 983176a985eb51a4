import { assertClose, forEachKernel, GPU_TEST, gpuFixture, randn } from "../testing.ts";
import { layernormBackward, layernormForward } from "./layernorm.ts";
import { layernormBackwardRef, layernormRef } from "./layernorm_ref.ts";
import { unitRoundoff } from "../dtype.ts";
import { halfDtypes, uploadAs } from "./half_testing.ts";

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

// Tempo from a 16-bit y against the f64 backward at the x and dy as stored (dx f32). The rebuilt
// xhat_i is off by D_i = e_i / gamma_i, e_i = y_i's error: one rounding, <= u |y_i|, plus the f32
// forward's (2e-5 abs + 2e-5 rel, the tolerance of y above). With g = dy gamma and
// m2 = mean(g xhat), dx_i = rstd (g_i - mean(g) - xhat_i m2) moves by
// rstd (D_i m2 + xhat_i dm2 + D_i dm2), |dm2| <= M = mean_j |dy_j| e_j, so
// |dx_i - dx_ref_i| <= rstd (|D_i| (|m2| + M) + |xhat_i| M), plus the f32 tolerance of the f32
// test above (5e-5 x max rstd abs + 5e-5 rel). Measured here at most 0.60 (f16) and 0.50 (bf16)
// of the bound; bench/half_layernorm_error.ts: the error is the f64 rebuild's from the rounded y.
Deno.test(
  {
    name: "tempo layernorm at f16 and bf16: dx within y's rounding of the f64 backward",
    ...GPU_TEST,
  },
  async () => {
    const f = await gpuFixture();
    const R = 6, C = 1003;
    for (const d of halfDtypes(f)) {
      const u = unitRoundoff(d);
      const inp = inputs(R, C, 11);
      const x = uploadAs(f, inp.x, [R, C], d), dy = uploadAs(f, inp.dy, [R, C], d);
      const tg = f.upload(inp.gamma, [C]), tb = f.upload(inp.beta, [C]);
      const gamma = Float64Array.from(inp.gamma, Math.fround);
      const y = f.alloc.alloc([R, C], d, "workspace", "y");
      const rstd = f.alloc.alloc([R], "f32", "workspace", "rstd");
      layernormForward(f.enc, {
        y,
        mean: null,
        rstd,
        x: x.t,
        gamma: tg,
        beta: tb,
        R,
        C,
        eps: EPS,
      });
      const dx = f.alloc.alloc([R, C], "f32", "workspace", "dx");
      const dgamma = f.upload(new Float64Array(C), [C]), dbeta = f.upload(new Float64Array(C), [C]);
      const args = { dx, dgamma, dbeta, dy: dy.t, y, rstd, gamma: tg, beta: tb, R, C };
      layernormTempoBackward(f.enc, args);
      const got = await f.readF32(dx), yGot = await f.readF32(y);
      const ref = layernormRef(x.v, gamma, Float64Array.from(inp.beta, Math.fround), R, C, EPS);
      const want = layernormBackwardRef(dy.v, x.v, ref.mean, ref.rstd, gamma, R, C).dx;
      const tol = 5e-5 * Math.max(...ref.rstd);
      let worst = 0;
      for (let r = 0; r < R; r++) {
        const row = (c: number) => r * C + c;
        const e = (c: number) => u * Math.abs(yGot[row(c)]) + 2e-5 * (1 + Math.abs(yGot[row(c)]));
        const xhat = (c: number) => (x.v[row(c)] - ref.mean[r]) * ref.rstd[r];
        let m2 = 0, M = 0;
        for (let c = 0; c < C; c++) {
          m2 += dy.v[row(c)] * gamma[c] * xhat(c) / C;
          M += Math.abs(dy.v[row(c)]) * e(c) / C;
        }
        for (let c = 0; c < C; c++) {
          const D = e(c) / Math.abs(gamma[c]);
          const bound = ref.rstd[r] * (D * (Math.abs(m2) + M) + Math.abs(xhat(c)) * M);
          const err = Math.abs(got[row(c)] - want[row(c)]);
          worst = Math.max(worst, err / bound);
          if (!(err <= bound + tol + 5e-5 * Math.abs(want[row(c)]))) {
            throw new Error(`${d} row ${r} channel ${c}: dx error ${err} exceeds ${bound} + f32`);
          }
        }
      }
      console.log(`tempo layernorm ${d}: max dx error / derived bound ${worst.toFixed(3)}`);
    }
  },
);

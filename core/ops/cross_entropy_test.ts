import {
  assertClose,
  forEachKernel,
  GPU_TEST,
  gpuFixture,
  randn,
  randomArray,
  rng,
} from "../testing.ts";
import { crossEntropy, lossScale, meanLoss } from "./cross_entropy.ts";
import { crossEntropyRef, meanLossRef, scaledLossRef } from "./cross_entropy_ref.ts";
import { halfClose, halfDtypes } from "./half_testing.ts";
import { roundedTo } from "../half.ts";

function targetsFor(N: number, V: number, seed: number): Int32Array {
  const r = rng(seed);
  const t = Int32Array.from({ length: N }, () => Math.floor(r() * V));
  t[1] = -1; // ignored rows
  t[N - 2] = -1;
  t[0] = V - 1; // last column
  return t;
}

function logitsFor(N: number, V: number, seed: number): Float32Array {
  const x = Float32Array.from(randn(N * V, seed, 3));
  for (let j = 0; j < V; j++) x[2 * V + j] += 80; // a row of large logits: needs the max shift
  return x;
}

function bitsEqual(a: Float32Array, b: Float32Array, what: string): void {
  const ua = new Uint32Array(a.buffer), ub = new Uint32Array(b.buffer);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) throw new Error(`${what}: element ${i} differs between runs`);
  }
}

Deno.test("cross-entropy reference gradient matches central finite differences (f64)", () => {
  const N = 5, V = 11;
  const x = Float64Array.from(randn(N * V, 9, 2));
  const t = Int32Array.from([3, -1, 10, 0, 7]);
  const scale = lossScale(t);
  const { grad } = crossEntropyRef(x, t, V, scale);
  const h = 1e-5;
  const fd = new Float64Array(N * V);
  for (let i = 0; i < N * V; i++) {
    const xp = Float64Array.from(x), xm = Float64Array.from(x);
    xp[i] += h;
    xm[i] -= h;
    fd[i] = (scaledLossRef(xp, t, V, scale) - scaledLossRef(xm, t, V, scale)) / (2 * h);
  }
  // Central differences in f64: error O(h^2) + rounding ~1e-11.
  assertClose(grad, fd, 1e-8, 0, "reference gradient vs finite differences");
});

// V % 4 == 0 (1032, 12) takes the vec4 kernel of the row variant.
for (const [N, V] of [[29, 1031], [23, 7], [29, 1032], [23, 12]]) {
  Deno.test(
    { name: `crossEntropy N=${N} V=${V}: losses, gradient, chunks`, ...GPU_TEST },
    () =>
      forEachKernel("crossEntropy", async (f, variant) => {
        const x = logitsFor(N, V, N + V);
        const t = targetsFor(N, V, V);
        const scale = lossScale(t);
        const ref = crossEntropyRef(x, t, V, scale);
        const tt = f.upload(t, [N], "i32");
        const rowBytes = 4 * V;
        const runs: Float32Array[] = [];
        // Whole, then chunks of 3 rows (unaligned row offsets), twice for determinism.
        for (const maxBinding of [undefined, 3 * rowBytes + 256, 3 * rowBytes + 256]) {
          const logits = f.upload(x, [N, V]);
          const losses = f.upload(randomArray(N, 1, 5, 6), [N]); // garbage must be overwritten
          const targets = tt, maxBindingBytes = maxBinding;
          crossEntropy(f.enc, { losses, logits, targets, N, V, gradScale: scale, maxBindingBytes });
          const gotLoss = await f.readF32(losses), gotGrad = await f.readF32(logits);
          // Losses up to ~20 from f32 logits (exact in the reference): f32 exp/log rounding.
          const what = `${variant} maxBinding=${maxBinding}`;
          assertClose(gotLoss, ref.losses, 1e-5, 1e-6, `losses ${what}`);
          // Gradient entries are scale * (p - onehot), |.| <= scale: f32 rounding of p.
          assertClose(gotGrad, ref.grad, 1e-6 * scale, 1e-5, `grad ${what}`);
          runs.push(gotLoss, gotGrad);
        }
        bitsEqual(runs[2], runs[4], "losses run twice");
        bitsEqual(runs[3], runs[5], "gradient run twice");
        // The GPU gradient also matches central differences of the f64 reference loss, on a sample.
        const g = runs[1];
        const r = rng(3);
        for (let k = 0; k < 20; k++) {
          const i = Math.floor(r() * N * V);
          const h = 1e-4;
          const xp = Float64Array.from(x), xm = Float64Array.from(x);
          xp[i] += h;
          xm[i] -= h;
          const fd = (scaledLossRef(xp, t, V, scale) - scaledLossRef(xm, t, V, scale)) / (2 * h);
          assertClose(
            [g[i]],
            [fd],
            1e-6 * scale + 1e-9,
            1e-4,
            `${variant} finite difference at ${i}`,
          );
        }
      }),
  );
}

Deno.test(
  { name: "crossEntropy: target >= V gives a NaN loss", ...GPU_TEST },
  () =>
    forEachKernel("crossEntropy", async (f, variant) => {
      for (const V of [9, 8]) {
        const logits = f.upload(randn(2 * V, 4), [2, V]), losses = f.upload([0, 0], [2]);
        const targets = f.upload([2, V], [2], "i32");
        crossEntropy(f.enc, { losses, logits, targets, N: 2, V, gradScale: 1 });
        const got = await f.readF32(losses);
        if (!Number.isFinite(got[0]) || !Number.isNaN(got[1])) {
          throw new Error(`${variant} V=${V}: losses ${got}`);
        }
      }
    }),
);

Deno.test({ name: "meanLoss: mean over counted targets, count", ...GPU_TEST }, async () => {
  const f = await gpuFixture();
  for (const N of [29, 1001]) {
    const losses = Float32Array.from(randomArray(N, N, 0, 10));
    const t = targetsFor(N, 5, N + 1);
    for (let n = 0; n < N; n += 7) t[n] = -1;
    const out = f.upload([9, 9], [2]);
    meanLoss(f.enc, out, f.upload(losses, [N]), f.upload(t, [N], "i32"), N);
    const [mean, count] = meanLossRef(losses, t);
    const got = await f.readF32(out);
    // A sum of up to 1001 f32 values in [0, 10), then one division.
    assertClose([got[0]], [mean], 1e-5, 1e-6, `meanLoss N=${N}`);
    assertClose([got[1]], [count], 0, 0, `count N=${N}`);
  }
  const out = f.upload([9, 9], [2]);
  meanLoss(f.enc, out, f.upload([1, 2, 3], [3]), f.upload([-1, -1, -1], [3], "i32"), 3);
  assertClose(await f.readF32(out), [0, 0], 0, 0, "all ignored");
});

// 16-bit logits (and so their gradient): the reference on the rounded logits; losses stay f32
// (the f32 tolerance above), the gradient the f32 tolerance plus one rounding. V = 1031 is odd:
// the word kernels take two rows per block (N = 29: a last single row), and 3-row bindings then
// hold 2 rows (chunks start at even rows); V = 12 is whole quads (the row variant's vec4 kernel).
// A target >= V gives a NaN loss and a zero gradient row. bf16 runs both; f16 V = 1031.
Deno.test(
  { name: "crossEntropy at f16 and bf16: odd and quad V, chunked, target >= V", ...GPU_TEST },
  () =>
    forEachKernel("crossEntropy", async (f, variant) => {
      for (const d of halfDtypes(f)) {
        for (const [N, V] of d === "bf16" ? [[29, 1031], [23, 12]] : [[29, 1031]]) {
          const x = roundedTo(d, logitsFor(N, V, N + V));
          const t = targetsFor(N, V, V);
          const scale = lossScale(t);
          const ref = crossEntropyRef(x, t, V, scale);
          t[3] = V; // a NaN loss (checked, then compared as 0) and a zero gradient row
          ref.losses[3] = 0;
          ref.grad.fill(0, 3 * V, 4 * V);
          const tt = f.upload(t, [N], "i32");
          const runs: Float32Array[] = [];
          for (const maxBindingBytes of [undefined, 3 * 2 * V + 256]) {
            const what = `${variant} ${d} N=${N} V=${V} max=${maxBindingBytes}`;
            const logits = f.upload(x, [N, V], d), losses = f.upload(randomArray(N, 1, 5, 6), [N]);
            crossEntropy(f.enc, {
              losses,
              logits,
              targets: tt,
              N,
              V,
              gradScale: scale,
              maxBindingBytes,
            });
            const gotLoss = await f.readF32(losses), gotGrad = await f.readF32(logits);
            if (!Number.isNaN(gotLoss[3])) {
              throw new Error(`${what}: target >= V gave ${gotLoss[3]}`);
            }
            gotLoss[3] = 0;
            assertClose(gotLoss, ref.losses, 1e-5, 1e-6, `losses ${what}`);
            halfClose(
              d,
              gotGrad,
              ref.grad,
              { atol: 1e-6 * scale, rtol: 1e-5 },
              `cross-entropy grad ${what}`,
            );
            runs.push(gotGrad);
          }
          assertClose(runs[1], runs[0], 0, 0, `${variant} ${d} V=${V}: chunked == whole`);
        }
      }
    }),
);

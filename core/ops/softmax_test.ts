import { assertClose, forEachKernel, GPU_TEST, gpuFixture, randn } from "../testing.ts";
import {
  assertRefuses,
  encoderWithoutF16,
  halfClose,
  halfDtypes,
  uploadAs,
} from "./half_testing.ts";
import { softmaxBackward, softmaxForward } from "./softmax.ts";
import { softmaxBackwardRef, softmaxRef } from "./softmax_ref.ts";

function bitsEqual(a: Float32Array, b: Float32Array, what: string): void {
  const ua = new Uint32Array(a.buffer), ub = new Uint32Array(b.buffer);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) throw new Error(`${what}: element ${i}: ${a[i]} != ${b[i]}`);
  }
}

// Tolerances: P within 2e-6 abs (probabilities; exp of f32 arguments up to |scale * S| ~ 40);
// dS within 2e-6 abs + 1e-5 rel.
Deno.test(
  { name: "softmax forward/backward match the reference: masks, odd sizes", ...GPU_TEST },
  async () => {
    // [B, NH, T] rows with causal masks at T = 7, 12 (vec4 rows), 129, 132 (vec4; rows over 128
    // are not kept in private arrays); wide rows (cols = 1001, 5 rows, 3 per batch element)
    // without the causal mask.
    const cases = [
      [2, 3, 7, 7],
      [2, 3, 12, 12],
      [2, 3, 129, 129],
      [2, 1, 132, 132],
      [2, 1, 3, 1001],
    ];
    await forEachKernel("softmax", async (f, variant) => {
      for (const [B, NH, T, cols] of cases) {
        const rows = cols === T ? B * NH * T : 5, n = rows * cols, scale = 1 / Math.sqrt(13);
        const S = randn(n, T, 6); // |scale * S| up to ~ 8
        const dP = randn(n, T + 1);
        // Batch 0: the last 3 keys are pads (and key 0 in the T = 7 case, so causal row t = 0 of
        // batch 0 is fully masked). Batch 1: all real.
        const pad = new Int32Array(B * cols).fill(1);
        for (let j = cols - 3; j < cols; j++) pad[j] = 0;
        if (T === 7) pad[0] = 0;
        const tS = f.upload(S, [rows, cols]), tdP = f.upload(dP, [rows, cols]);
        const tpad = f.upload(pad, [B, cols], "i32");
        const P = f.alloc.alloc([rows, cols], "f32", "workspace", "P");
        const dS = f.alloc.alloc([rows, cols], "f32", "workspace", "dS");
        const combos = cols === T ? [[false, false], [true, false], [false, true], [true, true]] : [
          [false, false],
          [false, true],
        ];
        for (const [causal, withPad] of combos) {
          const what = `${variant} T=${T} cols=${cols} causal=${causal} pad=${withPad}`;
          const o = { scale, causal, T, padMask: withPad ? pad : null, rowsPerBatch: NH * T };
          softmaxForward(f.enc, { P, S: tS, rows, cols, ...o, padMask: withPad ? tpad : null });
          const Pref = softmaxRef(S, rows, cols, o);
          const Pgot = await f.readF32(P);
          assertClose(Pgot, Pref, 2e-6, 0, `P ${what}`);
          if (!Pgot.every(Number.isFinite)) throw new Error(`non-finite P ${what}`);
          softmaxBackward(f.enc, { dS, dP: tdP, P, rows, cols, scale });
          assertClose(
            await f.readF32(dS),
            softmaxBackwardRef(dP, Pgot, rows, cols, scale),
            2e-6,
            1e-5,
            `dS ${what}`,
          );
          if (T === 7 && causal && withPad) {
            for (let j = 0; j < cols; j++) {
              if (Pgot[j] !== 0) {
                throw new Error("fully masked row not zero");
              }
            }
          }
        }
      }
    });
  },
);

Deno.test({ name: "softmax: in place, chunked == whole, large scores", ...GPU_TEST }, async () => {
  // T = 37: scalar rows; T = 36: vec4 rows (row variant).
  await forEachKernel("softmax", async (f, variant) => {
    for (const T of [37, 36]) {
      const B = 3, NH = 1, rows = B * NH * T, cols = T, n = rows * cols;
      const what = `${variant} T=${T}`;
      const S = randn(n, 9, 200); // |S| up to ~ 800: exp overflows without the max shift
      const dP = randn(n, 10);
      const pad = new Int32Array(B * cols).fill(1);
      pad.fill(0, cols, 2 * cols); // batch 1 entirely padding: zero rows
      const tpad = f.upload(pad, [B, cols], "i32");
      const o = { scale: 0.125, causal: true, padMask: tpad, rowsPerBatch: NH * T };
      const tS = f.upload(S, [rows, cols]);
      const P = f.alloc.alloc([rows, cols], "f32", "workspace", "P");
      softmaxForward(f.enc, { P, S: tS, rows, cols, ...o });
      const whole = await f.readF32(P);
      assertClose(whole, softmaxRef(S, rows, cols, { ...o, padMask: pad }), 2e-6, 0, `P ${what}`);
      // 148-byte rows: 64-row aligned chunks under a 10000-byte binding (2 chunks); 144-byte rows:
      // 16-row chunks (7 chunks).
      const inPlace = f.upload(S, [rows, cols]);
      softmaxForward(f.enc, { P: inPlace, S: inPlace, rows, cols, ...o, maxBindingBytes: 10000 });
      bitsEqual(await f.readF32(inPlace), whole, `in place + chunked forward ${what}`);
      const tdP = f.upload(dP, [rows, cols]),
        dS = f.alloc.alloc([rows, cols], "f32", "workspace", "dS");
      softmaxBackward(f.enc, { dS, dP: tdP, P, rows, cols, scale: 0.125 });
      const dSwhole = await f.readF32(dS);
      assertClose(
        dSwhole,
        softmaxBackwardRef(dP, whole, rows, cols, 0.125),
        2e-6,
        1e-5,
        `dS ${what}`,
      );
      const chunked = { rows, cols, scale: 0.125, maxBindingBytes: 10000 };
      softmaxBackward(f.enc, { dS: tdP, dP: tdP, P, ...chunked });
      bitsEqual(await f.readF32(tdP), dSwhole, `in place + chunked backward ${what}`);
    }
  });
});

Deno.test("softmax reference backward matches central differences of the forward (f64)", () => {
  const rows = 6, cols = 5, scale = 0.7, h = 1e-6;
  const S = randn(rows * cols, 1), w = randn(rows * cols, 2);
  const pad = [1, 1, 1, 0, 1, 1, 1, 1, 1, 1];
  for (const o of [{ scale }, { scale, causal: true, T: 3, padMask: pad, rowsPerBatch: 3 }]) {
    const loss = (s: Float64Array) =>
      softmaxRef(s, rows, cols, o).reduce((a, p, i) => a + w[i] * p, 0);
    const fd = S.map((_, i) => {
      const a = S.slice(), b = S.slice();
      a[i] += h;
      b[i] -= h;
      return (loss(a) - loss(b)) / (2 * h);
    });
    const P = softmaxRef(S, rows, cols, o);
    assertClose(
      softmaxBackwardRef(w, P, rows, cols, scale),
      fd,
      1e-8,
      1e-6,
      `FD ${JSON.stringify(o)}`,
    );
  }
});

// 16-bit S, P, dP, dS: the reference on the rounded S (and dP, and the GPU's own 16-bit P for the
// backward); the f32 tolerances above, then one rounding to d. T = 7 and 129 have odd rows,
// which the word kernels store two rows at a time; T = 12 and 132 are whole quads (the row
// variant's vec4 kernels; 132 without the private cache, whose third pass recomputes e so that
// P is rounded once). T = 129 also runs in place in 40000-byte bindings: chunks of 128 rows, the
// same bits. bf16 runs all four; f16 T = 7.
Deno.test(
  { name: "softmax at f16 and bf16: odd and quad rows, masks, in place, chunked", ...GPU_TEST },
  async () => {
    await forEachKernel("softmax", async (f, variant) => {
      for (const d of halfDtypes(f)) {
        const cases = d === "bf16"
          ? [[2, 3, 7], [2, 1, 12], [2, 1, 129], [1, 1, 132]]
          : [[2, 3, 7]];
        for (const [B, NH, T] of cases) {
          const cols = T, rows = B * NH * T, n = rows * cols, scale = 1 / Math.sqrt(13);
          const what = `${variant} ${d} T=${T}`;
          const S = uploadAs(f, randn(n, T, 6), [rows, cols], d);
          const dP = uploadAs(f, randn(n, T + 1), [rows, cols], d);
          // Batch 0: the last 3 keys are pads, and key 0, so causal row t = 0 is fully masked.
          const pad = new Int32Array(B * cols).fill(1);
          for (let j = cols - 3; j < cols; j++) pad[j] = 0;
          pad[0] = 0;
          const o = { scale, causal: true, T, padMask: pad, rowsPerBatch: NH * T };
          const tpad = f.upload(pad, [B, cols], "i32");
          const P = f.alloc.alloc([rows, cols], d, "workspace", "P");
          softmaxForward(f.enc, { P, S: S.t, rows, cols, ...o, padMask: tpad });
          const Pgot = await f.readF32(P);
          halfClose(
            d,
            Pgot,
            softmaxRef(S.v, rows, cols, o),
            { atol: 2e-6, rtol: 0 },
            `softmax P ${what}`,
          );
          for (let j = 0; j < cols; j++) {
            if (Pgot[j] !== 0) throw new Error(`${what}: masked row not 0`);
          }
          const dS = f.alloc.alloc([rows, cols], d, "workspace", "dS");
          softmaxBackward(f.enc, { dS, dP: dP.t, P, rows, cols, scale });
          const dSgot = await f.readF32(dS);
          const dSref = softmaxBackwardRef(dP.v, Pgot, rows, cols, scale);
          halfClose(d, dSgot, dSref, { atol: 2e-6, rtol: 1e-5 }, `softmax dS ${what}`);
          if (T !== 129) continue;
          const ip = f.upload(S.v, [rows, cols], d), maxBindingBytes = 40000;
          softmaxForward(f.enc, { P: ip, S: ip, rows, cols, ...o, padMask: tpad, maxBindingBytes });
          assertClose(await f.readF32(ip), Pgot, 0, 0, `in place + chunked forward ${what}`);
          const g = f.upload(dP.v, [rows, cols], d);
          softmaxBackward(f.enc, { dS: g, dP: g, P, rows, cols, scale, maxBindingBytes });
          assertClose(await f.readF32(g), dSgot, 0, 0, `in place + chunked backward ${what}`);
        }
      }
    });
  },
);

Deno.test({ name: "softmax refuses dtypes by op, binding and tensor", ...GPU_TEST }, async () => {
  const f = await gpuFixture();
  const S = f.alloc.alloc([4, 4], "i32", "workspace", "S"),
    P = f.alloc.alloc([4, 4], "bf16", "workspace", "P");
  assertRefuses(
    () => softmaxForward(f.enc, { P, S, rows: 4, cols: 4, scale: 1 }),
    ["softmaxForward", "S", "f32, f16 or bf16", "i32"],
    "i32 S",
  );
  const h = f.alloc.alloc([4, 4], "f16", "workspace", "h");
  assertRefuses(
    () => softmaxBackward(encoderWithoutF16(f), { dS: P, dP: P, P: h, rows: 4, cols: 4, scale: 1 }),
    ["softmaxBackward", "P", "'h'", "shader-f16"],
    "f16 without shader-f16",
  );
});

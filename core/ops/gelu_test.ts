import { assertClose, GPU_TEST, gpuFixture, randn } from "../testing.ts";
import { geluBackward, type GeluForm, geluForward } from "./gelu.ts";
import {
  erfcRef,
  erfRef,
  geluBackwardRef,
  geluForwardRef,
  geluGradRef,
  geluRef,
} from "./gelu_ref.ts";
import {
  assertRefuses,
  encoderWithoutF16,
  halfClose,
  halfDtypes,
  uploadAs,
} from "./half_testing.ts";

const FORMS: GeluForm[] = ["erf", "tanh"];

// x: a fine grid over [-10, 10] (20001 points) plus N(0, 2) samples, as f32.
function inputs(): Float64Array {
  const grid = Array.from({ length: 20001 }, (_, i) => -10 + i * 0.001);
  return Float64Array.from([...grid, ...randn(1003, 1, 2)], Math.fround);
}

Deno.test("erf reference: known values and identities (f64)", () => {
  // Values of erf / erfc to 16 digits (A&S tables; scipy.special agrees).
  const known: [number, number, number][] = [
    [0.1, 0.1124629160182849, 0.8875370839817151],
    [0.5, 0.5204998778130465, 0.4795001221869535],
    [1, 0.8427007929497149, 0.1572992070502851],
    [2, 0.9953222650189527, 0.004677734981047266],
    [3, 0.9999779095030014, 2.209049699858544e-5],
    [5, 0.9999999999984626, 1.537459794428035e-12],
    [10, 1, 2.088487583762545e-45],
  ];
  for (const [x, e, ec] of known) {
    assertClose([erfRef(x), erfRef(-x)], [e, -e], 1e-15, 1e-14, `erf(${x})`);
    assertClose([erfcRef(x)], [ec], 0, 2e-13, `erfc(${x})`);
  }
});

Deno.test("gelu reference derivative matches central differences (f64)", () => {
  const xs = [-9, -6, -3.3, -1.2, -0.7517915, -0.3, 0, 1e-3, 0.4, 1.7, 3.9, 8];
  for (const form of FORMS) {
    const h = 1e-5;
    const fd = xs.map((x) => (geluRef(x + h, form) - geluRef(x - h, form)) / (2 * h));
    assertClose(xs.map((x) => geluGradRef(x, form)), fd, 1e-9, 1e-8, `FD ${form}`);
  }
  // The tanh form is the approximation of the erf form: within 1e-3 everywhere.
  for (const x of xs) assertClose([geluRef(x, "tanh")], [geluRef(x, "erf")], 1e-3, 0, "tanh ~ erf");
});

// Measured on the software adapter (lavapipe): max abs error of the GPU vs the f64 reference
// over the inputs below: erf y 3.8e-7, dx 3.9e-7; tanh y 5.1e-7, dx 4.3e-7 (|y| up to 10:
// f32 rounding itself is 4.8e-7 there). erf comes from the Numerical Recipes erfc fit
// (relative error < 1.2e-7). Tolerance: 1e-6 abs + 1e-6 rel.
Deno.test(
  { name: "gelu forward/backward match the f64 reference (erf, tanh)", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const x = inputs(), n = x.length;
    const dy = randn(n, 2);
    const tx = f.upload(x, [n]), tdy = f.upload(dy, [n]);
    const y = f.alloc.alloc([n], "f32", "workspace", "y");
    const dx = f.alloc.alloc([n], "f32", "workspace", "dx");
    for (const form of FORMS) {
      geluForward(f.enc, { y, x: tx, n, form });
      const yRef = geluForwardRef(x, form);
      const yGot = await f.readF32(y);
      assertClose(yGot, yRef, 1e-6, 1e-6, `y ${form}`);
      // The left tail keeps relative accuracy: y(-10) ~ -7.6e-23 (erf), ~ -2.6e-32 (tanh).
      for (let i = 0; i < 6001; i++) {
        assertClose([yGot[i]], [yRef[i]], 0, 2e-5, `left tail y(${x[i]}) ${form}`);
      }
      geluBackward(f.enc, { dx, dy: tdy, x: tx, n, form });
      const dxRef = geluBackwardRef(dy, x, form);
      assertClose(await f.readF32(dx), dxRef, 1e-6, 1e-6, `dx ${form}`);
      // In place, chunked (1 KiB bindings: 256-element chunks).
      const t = f.upload(x, [n]);
      geluForward(f.enc, { y: t, x: t, n, form, maxBindingBytes: 1024 });
      assertClose(await f.readF32(t), yGot, 0, 0, `y in place, chunked ${form}`);
      const g = f.upload(dy, [n]);
      geluBackward(f.enc, { dx: g, dy: g, x: tx, n, form, maxBindingBytes: 1024 });
      assertClose(await f.readF32(g), await f.readF32(dx), 0, 0, `dx in place, chunked ${form}`);
    }
  },
);

// 16-bit: the inputs above rounded to d, the f64 reference on them; the f32 tolerance above
// (1e-6 abs + 1e-6 rel: the erfc fit and exp), then one rounding to d (u |ref|; f16's left tail
// underflows to 0 within half a subnormal step). In place and in 512-element chunks (bf16): the
// same bits.
Deno.test(
  {
    name: "gelu at f16 and bf16 matches the f64 reference (erf, tanh, in place, chunked)",
    ...GPU_TEST,
  },
  async () => {
    const f = await gpuFixture();
    const x0 = inputs(), n = x0.length;
    const dy0 = randn(n, 2);
    for (const d of halfDtypes(f)) {
      const x = uploadAs(f, x0, [n], d), dy = uploadAs(f, dy0, [n], d);
      const y = f.alloc.alloc([n], d, "workspace", "y");
      const dx = f.alloc.alloc([n], d, "workspace", "dx");
      for (const form of FORMS) {
        geluForward(f.enc, { y, x: x.t, n, form });
        const yGot = await f.readF32(y);
        const tol = { atol: 1e-6, rtol: 1e-6 };
        halfClose(d, yGot, geluForwardRef(x.v, form), tol, `gelu y ${form} ${d}`);
        geluBackward(f.enc, { dx, dy: dy.t, x: x.t, n, form });
        const dxGot = await f.readF32(dx);
        halfClose(d, dxGot, geluBackwardRef(dy.v, x.v, form), tol, `gelu dx ${form} ${d}`);
        if (d === "f16") continue; // in place and chunks: bf16
        const t = f.upload(x0, [n], d);
        geluForward(f.enc, { y: t, x: t, n, form, maxBindingBytes: 1024 });
        assertClose(await f.readF32(t), yGot, 0, 0, `y in place, chunked ${form} ${d}`);
        const g = f.upload(dy0, [n], d);
        geluBackward(f.enc, { dx: g, dy: g, x: x.t, n, form, maxBindingBytes: 1024 });
        assertClose(await f.readF32(g), dxGot, 0, 0, `dx in place, chunked ${form} ${d}`);
      }
    }
    // Mixed: a bf16 input with an f32 output is the f32 result on the rounded input.
    const xb = uploadAs(f, x0, [n], "bf16"), y32 = f.alloc.alloc([n], "f32", "workspace", "y");
    geluForward(f.enc, { y: y32, x: xb.t, n, form: "erf" });
    assertClose(await f.readF32(y32), geluForwardRef(xb.v, "erf"), 1e-6, 1e-6, "bf16 -> f32");
  },
);

Deno.test({ name: "gelu refuses dtypes by op, binding and tensor", ...GPU_TEST }, async () => {
  const f = await gpuFixture();
  const x = f.alloc.alloc([8], "f32", "workspace", "x"),
    m = f.alloc.alloc([8], "u8", "workspace", "m");
  assertRefuses(() => geluForward(f.enc, { y: m, x, n: 8, form: "erf" }), [
    "geluForward",
    "y",
    "u8",
    "'m'",
  ], "u8 y");
  const h = f.alloc.alloc([8], "f16", "workspace", "h");
  assertRefuses(
    () => geluBackward(encoderWithoutF16(f), { dx: x, dy: x, x: h, n: 8, form: "erf" }),
    ["geluBackward", "x", "'h'", "shader-f16"],
    "f16 without shader-f16",
  );
});

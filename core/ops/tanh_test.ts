import { assertClose, GPU_TEST, gpuFixture, randn } from "../testing.ts";
import { tanhBackward, tanhForward } from "./tanh.ts";
import { tanhBackwardRef, tanhRef } from "./tanh_ref.ts";
import { halfClose, halfDtypes, uploadAs } from "./half_testing.ts";

Deno.test("tanh reference backward matches central finite differences (f64)", () => {
  const x = randn(101, 1, 3), dy = randn(101, 2), h = 1e-6;
  const fd = Float64Array.from(
    x,
    (v, i) => dy[i] * (Math.tanh(v + h) - Math.tanh(v - h)) / (2 * h),
  );
  assertClose(tanhBackwardRef(dy, tanhRef(x)), fd, 1e-8, 1e-6, "tanh ref vs FD");
});

Deno.test(
  { name: "tanh GPU matches the reference at odd sizes, including large |x|", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const n = 1027;
    const x = randn(n, 3, 4);
    x[0] = 60, x[1] = -60, x[2] = 0;
    const dy = randn(n, 4);
    const tx = f.upload(x, [n]), tdy = f.upload(dy, [n]);
    const y = f.alloc.alloc([n], "f32", "workspace", "y"),
      dx = f.alloc.alloc([n], "f32", "workspace", "dx");
    tanhForward(f.enc, y, tx, n);
    const yRef = tanhRef(x);
    assertClose(await f.readF32(y), yRef, 1e-6, 1e-6, "tanh y"); // stated tolerance: f32 exp rounding
    tanhBackward(f.enc, dx, tdy, y, n);
    assertClose(await f.readF32(dx), tanhBackwardRef(dy, yRef), 1e-5, 1e-5, "tanh dx");
  },
);

// 16-bit: the reference on the rounded inputs; the f32 tolerances above (exp rounding), then one
// rounding to the output's dtype (halfClose: u |ref|).
Deno.test(
  { name: "tanh at f16 and bf16 matches the reference, odd size", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const n = 1027;
    const x0 = randn(n, 3, 4);
    x0[0] = 60, x0[1] = -60, x0[2] = 0;
    for (const d of halfDtypes(f)) {
      const x = uploadAs(f, x0, [n], d), dy = uploadAs(f, randn(n, 4), [n], d);
      const y = f.alloc.alloc([n], d, "workspace", "y"),
        dx = f.alloc.alloc([n], d, "workspace", "dx");
      tanhForward(f.enc, y, x.t, n);
      const yGot = await f.readF32(y);
      halfClose(d, yGot, tanhRef(x.v), { atol: 1e-6, rtol: 1e-6 }, `tanh y ${d}`);
      tanhBackward(f.enc, dx, dy.t, y, n);
      halfClose(d, await f.readF32(dx), tanhBackwardRef(dy.v, yGot), {
        atol: 1e-6,
        rtol: 1e-6,
      }, `tanh dx ${d}`);
    }
  },
);

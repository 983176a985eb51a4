import { roundTo } from "../half.ts";
import { view } from "../tensor.ts";
import { assertClose, GPU_TEST, gpuFixture, randomArray } from "../testing.ts";
import { add, fill, scaleAcc } from "./elementwise.ts";
import { addRef, scaleAccRef } from "./elementwise_ref.ts";
import {
  assertRefuses,
  encoderWithoutF16,
  halfClose,
  halfDtypes,
  uploadAs,
} from "./half_testing.ts";

Deno.test({ name: "add and scaleAcc match the reference at odd sizes", ...GPU_TEST }, async () => {
  const f = await gpuFixture();
  for (const n of [1, 257, 70001]) {
    const a = randomArray(n, 1), b = randomArray(n, 2);
    const ta = f.upload(a, [n]),
      tb = f.upload(b, [n]),
      out = f.alloc.alloc([n], "f32", "workspace", "o");
    add(f.enc, out, ta, tb);
    assertClose(await f.readF32(out), addRef(a, b), 1e-6, 1e-6, `add n=${n}`);
    scaleAcc(f.enc, out, ta, 0.5, 2);
    assertClose(
      await f.readF32(out),
      scaleAccRef(a, addRef(a, b), 0.5, 2),
      1e-5,
      1e-6,
      `scaleAcc n=${n}`,
    );
    fill(f.enc, out, Number.NaN);
    scaleAcc(f.enc, out, ta, -3, 0);
    assertClose(await f.readF32(out), scaleAccRef(a, a, -3, 0), 1e-6, 1e-6, "beta 0 ignores NaN");
  }
});

Deno.test(
  { name: "add, scaleAcc, fill at f16 and bf16: reference, mixed dtypes, odd views", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const n = 1031; // odd: the last pair of every 16-bit kernel has one element
    const a = randomArray(n, 3, -4, 4), b = randomArray(n, 4, -4, 4);
    for (const d of halfDtypes(f)) {
      const ta = uploadAs(f, a, [n], d), tb = uploadAs(f, b, [n], d);
      const out = f.alloc.alloc([n], d, "workspace", "o");
      // One f32 addition of two 16-bit values, one rounding: exactly roundTo(d, f32(a + b)).
      add(f.enc, out, ta.t, tb.t);
      const sum = Float64Array.from(ta.v, (v, i) => roundTo(d, Math.fround(v + tb.v[i])));
      assertClose(await f.readF32(out), sum, 0, 0, `add ${d}`);
      // Mixed: an f32 sum of a 16-bit and an f32 term is f32(a + b), nothing rounded to 16 bits.
      const b32 = f.upload(b, [n]), o32 = f.alloc.alloc([n], "f32", "workspace", "o32");
      add(f.enc, o32, ta.t, b32);
      const mixed = Float64Array.from(ta.v, (v, i) => Math.fround(v + Math.fround(b[i])));
      assertClose(await f.readF32(o32), mixed, 0, 0, `add ${d} + f32 -> f32`);
      // alpha x + beta out: two products and a sum in f32 (a fused multiply-add may skip one
      // rounding): 3 * 2^-24 relative, then one rounding to d.
      scaleAcc(f.enc, out, ta.t, 0.5, 2);
      halfClose(d, await f.readF32(out), scaleAccRef(ta.v, sum, 0.5, 2), {
        atol: 0,
        rtol: 3 * 2 ** -24,
      }, `scaleAcc ${d}`);
      fill(f.enc, out, Number.NaN);
      scaleAcc(f.enc, out, ta.t, -3, 0);
      halfClose(d, await f.readF32(out), scaleAccRef(ta.v, ta.v, -3, 0), {
        atol: 0,
        rtol: 0,
      }, `scaleAcc beta 0 ignores NaN ${d}`);
      // Odd-sized views: an op writes its elements and not the parent's next one (385, 643).
      const parent = uploadAs(f, randomArray(1024, 5), [1024], d);
      const src = uploadAs(f, randomArray(257, 6), [257], d);
      add(f.enc, view(parent.t, 128, [257]), src.t, src.t);
      fill(f.enc, view(parent.t, 640, [3]), 1.7);
      const got = await f.readF32(parent.t);
      const want = Float64Array.from(parent.v);
      for (let i = 0; i < 257; i++) want[128 + i] = roundTo(d, 2 * src.v[i]);
      for (let i = 640; i < 643; i++) want[i] = roundTo(d, 1.7);
      assertClose(got, want, 0, 0, `odd views ${d}`);
    }
  },
);

Deno.test(
  { name: "elementwise ops refuse dtypes by op, binding and tensor", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const x = f.alloc.alloc([6], "f32", "workspace", "x");
    const i = f.alloc.alloc([6], "i32", "workspace", "ids");
    assertRefuses(
      () => add(f.enc, i, x, x),
      ["add", "out", "f32, f16 or bf16", "'ids'"],
      "i32 out",
    );
    assertRefuses(() => scaleAcc(f.enc, x, i, 1), ["scaleAcc", "x", "i32"], "i32 x");
    const h = f.alloc.alloc([6], "f16", "workspace", "h");
    assertRefuses(
      () => add(encoderWithoutF16(f), x, h, x),
      ["add", "a", "'h'", "shader-f16", "bf16"],
      "f16 without shader-f16",
    );
  },
);

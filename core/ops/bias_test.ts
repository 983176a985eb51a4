import { Encoder } from "../encoder.ts";
import { roundTo } from "../half.ts";
import { assertClose, forEachKernel, GPU_TEST, gpuFixture, randomArray } from "../testing.ts";
import { addBias, sumRows } from "./bias.ts";
import { addBiasRef, sumRowsRef } from "./bias_ref.ts";
import { assertRefuses, halfDtypes, uploadAs } from "./half_testing.ts";

// Tolerances: values uniform in [-1, 1] (rounded to f32 before the f64 reference); addBias is one
// f32 add (1e-6); sumRows adds <= 301 rows in f32 (error well below 1e-4; a lost row is ~0.5).
const f32 = (x: ArrayLike<number>) => Float64Array.from(Float32Array.from(x));

// [rows, n, maxBindingBytes]: odd sizes, and n % 4 == 0 (the vec4 addBias); a maxBindingBytes
// forces row chunks starting at offsets that are not binding-aligned.
const SHAPES: [number, number, number | undefined][] = [
  [1, 1, undefined],
  [37, 29, undefined],
  [3, 8, undefined],
  [301, 7, 1024],
  [45, 44, 1024],
  [37, 12, undefined],
];

Deno.test({ name: "addBias matches the reference, chunked or not", ...GPU_TEST }, async () => {
  await forEachKernel("bias", async (f, variant) => {
    let seed = 1;
    for (const [rows, n, maxBindingBytes] of SHAPES) {
      const y = f32(randomArray(rows * n, seed++)), b = f32(randomArray(n, seed++));
      const ty = f.upload(y, [rows, n]), tb = f.upload(b, [n]);
      const before = f.enc.dispatches;
      addBias(f.enc, { y: ty, bias: tb, rows, n, maxBindingBytes });
      const what = `addBias ${variant} ${rows}x${n}`;
      assertClose(await f.readF32(ty), addBiasRef(y, b, rows, n), 1e-6, 1e-6, what);
      if (maxBindingBytes && f.enc.dispatches - before < 2) throw new Error(`${what}: not chunked`);
    }
  });
});

Deno.test(
  { name: "sumRows matches the reference: beta 0 over NaN, beta 1", ...GPU_TEST },
  async () => {
    const byVariant: Float32Array[][] = [];
    await forEachKernel("bias", async (f, variant) => {
      const sums: Float32Array[] = [];
      byVariant.push(sums);
      let seed = 100;
      for (const [rows, n, maxBindingBytes] of SHAPES) {
        const x = f32(randomArray(rows * n, seed++)), prev = f32(randomArray(n, seed++));
        const tx = f.upload(x, [rows, n]);
        const out = f.upload(new Float64Array(n).fill(NaN), [n]);
        const before = f.enc.dispatches;
        sumRows(f.enc, { out, x: tx, rows, n, maxBindingBytes });
        const what = `sumRows ${variant} ${rows}x${n}`;
        const got0 = await f.readF32(out);
        sums.push(got0);
        assertClose(got0, sumRowsRef(x, rows, n, prev, 0), 1e-4, 1e-5, `${what} beta 0`);
        if (maxBindingBytes && f.enc.dispatches - before < 2) {
          throw new Error(`${what}: not chunked`);
        }
        f.enc.write(out, Float32Array.from(prev));
        sumRows(f.enc, { out, x: tx, rows, n, beta: 1, maxBindingBytes });
        assertClose(
          await f.readF32(out),
          sumRowsRef(x, rows, n, prev, 1),
          1e-4,
          1e-5,
          `${what} beta 1`,
        );
        // Deterministic: the same inputs give the same bits.
        sumRows(f.enc, { out, x: tx, rows, n, beta: 0, maxBindingBytes });
        const again = await f.readF32(out);
        for (let i = 0; i < n; i++) {
          if (!Object.is(again[i], got0[i])) throw new Error(`${what}: not deterministic at ${i}`);
        }
      }
    });
    // Both variants add each column's rows in the same order: the same bits.
    byVariant[0].forEach((a, k) => {
      a.forEach((v, i) => {
        if (!Object.is(v, byVariant[1][k][i])) {
          throw new Error(`sumRows variants differ: ${k} ${i}`);
        }
      });
    });
  },
);

Deno.test({ name: "bias ops: argument errors and planning mode", ...GPU_TEST }, async () => {
  const f = await gpuFixture();
  const y = f.alloc.alloc([6], "f32", "workspace", "y");
  const b = f.alloc.alloc([3], "f32", "workspace", "b");
  const throws = (fn: () => void, what: string) => {
    try {
      fn();
    } catch {
      return;
    }
    throw new Error(`expected an error: ${what}`);
  };
  throws(() => addBias(f.enc, { y, bias: b, rows: 3, n: 3 }), "y too small");
  throws(() => addBias(f.enc, { y, bias: b, rows: 1, n: 6 }), "bias too small");
  throws(() => sumRows(f.enc, { out: b, x: y, rows: 2, n: 3, beta: 2 }), "beta 2");
  throws(() => sumRows(f.enc, { out: b, x: y, rows: 0, n: 3 }), "rows 0");
  const plan = new Encoder(null);
  addBias(plan, { y, bias: b, rows: 2, n: 3 });
  sumRows(plan, { out: b, x: y, rows: 2, n: 3, beta: 1 });
  if (plan.dispatches !== 0) throw new Error("planning mode dispatched");
});

// 16-bit activations, f32 bias: addBias adds in f32 and rounds once, so y is exactly
// roundTo(d, f32(y + bias)); sumRows reads 16-bit rows into f32 sums (out stays f32: the f32
// tolerance above). Odd n takes the element kernel's pairs (rows * n odd: a last single
// element), n % 4 == 0 the vec4 and blocked kernels; 1024-byte bindings force chunks, which for
// 16-bit rows of odd n start at even rows.
const HALF_SHAPES: [number, number, number | undefined][] = [
  [37, 29, undefined],
  [301, 7, 1030], // 55 rows of 14 bytes fit after the alignment slack: chunks of 54
  [45, 44, 1024],
];

Deno.test(
  { name: "addBias and sumRows at f16 and bf16: every kernel, chunked", ...GPU_TEST },
  async () => {
    const sums: Record<string, Float32Array[]> = {};
    await forEachKernel("bias", async (f, variant) => {
      let seed = 200;
      for (const d of halfDtypes(f)) {
        for (const [rows, n, maxBindingBytes] of HALF_SHAPES) {
          const what = `${variant} ${d} ${rows}x${n}`;
          const y = uploadAs(f, randomArray(rows * n, seed++, -3, 3), [rows, n], d);
          const b = f32(randomArray(n, seed++));
          const before = f.enc.dispatches;
          addBias(f.enc, { y: y.t, bias: f.upload(b, [n]), rows, n, maxBindingBytes });
          if (maxBindingBytes && f.enc.dispatches - before < 2) {
            throw new Error(`${what}: not chunked`);
          }
          const want = Float64Array.from(y.v, (v, i) => roundTo(d, Math.fround(v + b[i % n])));
          assertClose(await f.readF32(y.t), want, 0, 0, `addBias ${what}`);
          const out = f.upload(new Float64Array(n).fill(NaN), [n]);
          sumRows(f.enc, { out, x: y.t, rows, n, maxBindingBytes });
          const got = await f.readF32(out);
          assertClose(got, sumRowsRef(want, rows, n, want, 0), 1e-4, 1e-5, `sumRows ${what}`);
          (sums[`${d} ${rows}x${n}`] ??= []).push(got);
        }
      }
    });
    // Both variants add each column's rows in the same order: the same bits.
    for (const [k, [a, b]] of Object.entries(sums)) {
      assertClose(a, b, 0, 0, `sumRows variants ${k}`);
    }
  },
);

Deno.test({ name: "bias ops refuse dtypes by op, binding and tensor", ...GPU_TEST }, async () => {
  const f = await gpuFixture();
  const y = f.alloc.alloc([6], "bf16", "workspace", "y");
  const b = f.alloc.alloc([3], "bf16", "workspace", "b");
  const g = f.alloc.alloc([3], "f32", "workspace", "g");
  assertRefuses(() => addBias(f.enc, { y, bias: b, rows: 2, n: 3 }), [
    "addBias",
    "bias",
    "must be f32",
    "'b'",
  ], "bf16 bias");
  assertRefuses(() => sumRows(f.enc, { out: b, x: y, rows: 2, n: 3 }), [
    "sumRows",
    "out",
    "must be f32",
  ], "bf16 out");
  const i = f.alloc.alloc([6], "i32", "workspace", "i");
  assertRefuses(
    () => addBias(f.enc, { y: i, bias: g, rows: 2, n: 3 }),
    ["addBias", "y", "i32"],
    "i32 y",
  );
});

import { Encoder } from "../encoder.ts";
import { assertClose, forEachKernel, GPU_TEST, gpuFixture, randomArray } from "../testing.ts";
import { addBias, sumRows } from "./bias.ts";
import { addBiasRef, sumRowsRef } from "./bias_ref.ts";

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

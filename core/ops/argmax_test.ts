import { Encoder } from "../encoder.ts";
import { GPU_TEST, gpuFixture, randn } from "../testing.ts";
import { argmaxRows } from "./argmax.ts";
import { argmaxRowsRef } from "./argmax_ref.ts";

Deno.test(
  { name: "argmaxRows matches the reference: ties, NaN, odd sizes", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    for (const [rows, V, seed] of [[1, 1, 1], [7, 33, 2], [65, 260, 3], [3, 5, 4]]) {
      // Values rounded to halves make ties common; a few NaN must never win.
      const x = Float32Array.from(randn(rows * V, seed), (v) => Math.round(v * 2) / 2);
      for (let i = 3; i < x.length; i += 17) x[i] = NaN;
      const out = f.alloc.alloc([rows], "i32", "workspace", "out");
      argmaxRows(f.enc, { out, x: f.upload(x, [rows, V]), rows, V });
      const got = await f.readI32(out), want = argmaxRowsRef(x, rows, V);
      for (let r = 0; r < rows; r++) {
        if (got[r] !== want[r]) throw new Error(`${rows}x${V} row ${r}: ${got[r]} != ${want[r]}`);
      }
    }
    const plan = new Encoder(null);
    const t = f.alloc.alloc([2, 3], "f32", "workspace", "x");
    argmaxRows(plan, { out: f.alloc.alloc([2], "i32", "workspace", "o"), x: t, rows: 2, V: 3 });
    if (plan.dispatches !== 0) throw new Error("planning mode dispatched");
  },
);

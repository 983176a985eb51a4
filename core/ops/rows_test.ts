import { assertClose, GPU_TEST, gpuFixture, randomArray, rng } from "../testing.ts";
import { gatherRows, scatterRowsAdd } from "./rows.ts";
import { gatherRowsRef, scatterRowsAddRef } from "./rows_ref.ts";
import { assertRefuses, halfClose, halfDtypes, uploadAs } from "./half_testing.ts";

// Odd shapes: N rows of x, M gathered rows; C = 19 runs the f32 kernels, C = 20 the vec4 ones.
const N = 37, M = 23;
const WIDTHS = [19, 20];
// 1024-byte bindings force 9- or 10-row chunks of x, dx, out and dout (unaligned row offsets).
const SMALL_BINDING = 1024;

function positionsWithRepeats(seed: number): Int32Array {
  const r = rng(seed);
  const p = Int32Array.from({ length: M }, () => Math.floor(r() * N));
  p[3] = -1; // padding
  p[4] = N; // out of range
  p[7] = p[20] = p[21] = p[5]; // one destination four times, rows in different chunks
  return p;
}

function bitsEqual(a: Float32Array, b: Float32Array, what: string): void {
  const ua = new Uint32Array(a.buffer), ub = new Uint32Array(b.buffer);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) throw new Error(`${what}: element ${i} differs between runs`);
  }
}

for (const C of WIDTHS) {
  Deno.test({ name: `gatherRows C=${C}: whole and chunked`, ...GPU_TEST }, async () => {
    const f = await gpuFixture();
    const x = Float32Array.from(randomArray(N * C, 1));
    const pos = positionsWithRepeats(2);
    const tx = f.upload(x, [N, C]), tp = f.upload(pos, [M], "i32");
    const expected = gatherRowsRef(x, pos, C);
    for (const maxBinding of [undefined, SMALL_BINDING]) {
      const out = f.upload(randomArray(M * C, 3, 5, 6), [M, C]); // garbage must be overwritten
      gatherRows(f.enc, { out, x: tx, positions: tp, M, C, maxBindingBytes: maxBinding });
      // A gather copies f32 values: exact.
      assertClose(await f.readF32(out), expected, 0, 0, `gather maxBinding=${maxBinding}`);
    }
  });

  Deno.test({ name: `scatterRowsAdd C=${C}: repeats, padding, chunks`, ...GPU_TEST }, async () => {
    const f = await gpuFixture();
    const dx0 = randomArray(N * C, 4), dout = randomArray(M * C, 5);
    const pos = positionsWithRepeats(6);
    const tdout = f.upload(dout, [M, C]), tp = f.upload(pos, [M], "i32");
    const expected = scatterRowsAddRef(Float32Array.from(dx0), Float32Array.from(dout), pos, C);
    const runs: Float32Array[] = [];
    for (const maxBinding of [undefined, SMALL_BINDING, SMALL_BINDING]) {
      const dx = f.upload(dx0, [N, C]);
      scatterRowsAdd(f.enc, { dx, dout: tdout, positions: tp, M, C, maxBindingBytes: maxBinding });
      const got = await f.readF32(dx);
      // At most 5 f32 additions of values in [-1, 1]: a few ulps of 4.
      assertClose(got, expected, 4e-6, 0, `scatter maxBinding=${maxBinding}`);
      runs.push(got);
    }
    bitsEqual(runs[1], runs[2], "chunked scatter run twice");
  });
}

// 16-bit rows: a gather copies exactly; a scatter-add sums in f32 (the 4e-6 above) and rounds
// once. C = 22 takes pairs, C = 20 vec4s (bf16 only); 1024-byte bindings force row chunks.
// A 16-bit output with odd C is refused (its rows would share u32 words).
Deno.test(
  { name: "gatherRows and scatterRowsAdd at f16 and bf16, chunked", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    for (const d of halfDtypes(f)) {
      for (const C of d === "bf16" ? [22, 20] : [22]) {
        const what = `${d} C=${C}`;
        const x = uploadAs(f, randomArray(N * C, 1), [N, C], d), pos = positionsWithRepeats(2);
        const tp = f.upload(pos, [M], "i32");
        for (const maxBindingBytes of [undefined, SMALL_BINDING]) {
          const out = f.upload(randomArray(M * C, 3, 5, 6), [M, C], d);
          gatherRows(f.enc, { out, x: x.t, positions: tp, M, C, maxBindingBytes });
          assertClose(await f.readF32(out), gatherRowsRef(x.v, pos, C), 0, 0, `gather ${what}`);
          const dx = uploadAs(f, randomArray(N * C, 4), [N, C], d);
          const dout = uploadAs(f, randomArray(M * C, 5), [M, C], d);
          scatterRowsAdd(f.enc, { dx: dx.t, dout: dout.t, positions: tp, M, C, maxBindingBytes });
          const want = scatterRowsAddRef(dx.v, dout.v, pos, C);
          halfClose(
            d,
            await f.readF32(dx.t),
            want,
            { atol: 4e-6, rtol: 0 },
            `scatterRowsAdd ${what} ${maxBindingBytes}`,
          );
        }
      }
    }
    const odd = f.alloc.alloc([M, 19], "bf16", "workspace", "odd");
    const x = f.alloc.alloc([N, 19], "f32", "workspace", "x"),
      tp = f.upload(positionsWithRepeats(2), [M], "i32");
    assertRefuses(
      () => gatherRows(f.enc, { out: odd, x, positions: tp, M, C: 19 }),
      ["gatherRows", "even row width", "C = 19", "'odd'"],
      "odd C, bf16 output",
    );
  },
);

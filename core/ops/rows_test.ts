import { assertClose, GPU_TEST, gpuFixture, randomArray, rng } from "../testing.ts";
import { gatherRows, scatterRowsAdd } from "./rows.ts";
import { gatherRowsRef, scatterRowsAddRef } from "./rows_ref.ts";

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

import { gatherRowsRef, scatterRowsAddRef } from "../core/ops/rows_ref.ts";
import { assertClose, GPU_TEST, gpuFixture, randn } from "../core/testing.ts";
import { uploadBatch } from "./batch_ref.ts";
import { GatherRows } from "./gather.ts";
import { assertSavesMatch, finiteDiff, runLayer } from "./testing.ts";

const N = 13, M = 9, C = 11;
/**
 * MLM-style positions: 6 real picks (4 twice) then 3 padding entries at position 0, which the
 * loader pads with label -1 (so their dy rows are 0 in practice); 0 is also a real pick.
 */
const POSITIONS = [4, 0, 12, 4, 7, 9, 0, 0, 0];
const REAL = 6;

Deno.test("GatherRows reference gradient (scatter-add) matches central finite differences", () => {
  const h = randn(N * C, 1), dy = randn(M * C, 2);
  const fd = finiteDiff((x) => gatherRowsRef(x, POSITIONS, C), h, dy);
  assertClose(scatterRowsAddRef(new Float64Array(N * C), dy, POSITIONS, C), fd, 1e-8, 1e-7, "dh");
});

Deno.test({
  name: "GatherRows layer: GPU vs reference, duplicate positions sum, declared memory",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const { batch, release } = uploadBatch(f, { maskedPositions: POSITIONS });
  const layer = new GatherRows("gather", N, M, C, () => batch);
  const h = randn(N * C, 3);
  const zeroPadded = randn(M * C, 5).fill(0, REAL * C);
  const cases: [string, Float64Array][] = [
    ["random dy", randn(M * C, 4)],
    ["padding dy = 0", zeroPadded],
  ];
  for (const [what, dy] of cases) {
    const r = await runLayer(f, layer, [], {}, [{ data: h, shape: [N, C] }], dy);
    // A copy, then sums of at most four f32 rows.
    assertClose(r.y, Float32Array.from(gatherRowsRef(h, POSITIONS, C)), 0, 0, `${what}: y`);
    const dh = scatterRowsAddRef(new Float64Array(N * C), dy, POSITIONS, C);
    assertClose(r.dxs[0]!, dh, 1e-6, 1e-6, `${what}: dh`);
    assertSavesMatch(what, layer.saves(), r);
    // Keeps nothing; forward allocates [9,11] f32, backward the zeroed [13,11] f32 dh.
    if (r.savedBytes !== 0) throw new Error(`saved ${r.savedBytes}`);
    if (r.forwardPeak !== 4 * 9 * 11) throw new Error(`forward peak ${r.forwardPeak}`);
    if (r.backwardPeak !== 4 * 13 * 11) throw new Error(`backward peak ${r.backwardPeak}`);
    if (dy === zeroPadded) {
      // Row 0 (picked once for real, three times as padding with dy = 0): the real row alone.
      const real = Float32Array.from(dy.subarray(C, 2 * C));
      assertClose(r.dxs[0]!.subarray(0, C), real, 0, 0, "padding adds nothing to row 0");
    }
  }
  release();
});

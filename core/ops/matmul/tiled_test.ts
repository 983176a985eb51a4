import { GPU_TILE } from "../../kernel_policy.ts";
import { GPU_TEST } from "../../testing.ts";
import {
  check,
  checkBatched,
  checkChunked,
  checkHalf,
  fixtureFor,
  LAYOUT_CASES,
  tile,
} from "./testing.ts";

// The register-tiled kernel is a GPU kernel: on llvmpipe its barriers make it slow and each
// variant costs seconds to compile cold, so the tests run small tiles that still reach every
// path: several workgroups per dimension, workgroups inside C (unguarded loads and stores) and at
// its edges (guarded), full k-slices and a partial last one, vec4 and scalar loads of each
// layout, quad, pair and single stores, one and two staging buffers, several column and row
// groups per invocation, staging rounds that do and do not divide the workgroup. LAYOUT_CASES
// have M, N from 20 to 140 and K from 13 to 24. The batched and chunked cases mostly reuse the
// layout cases' variants (same tile): 2 more kernels (single stores, scalar NN).

/**
 * 16x32 per workgroup of 4x4 invocations of 4x8 (two column groups), k-slices of 4, vec4,
 * double-buffered: A's slice is one vec4 per invocation, B's two.
 */
const VEC_DB = tile(16, 32, 4, 4, 8, true, 2);
/** 32x16 of 4x4 invocations of 8x4 (two row groups), k-slices of 2, scalar loads, one buffer. */
const SCALAR = tile(32, 16, 2, 8, 4, false, 1);

// Scalar staging is one generator for both buffer counts (only the buffer offset differs), so
// the layouts' odd cases (scalar loads: 4 kernels, among this file's slowest to compile cold) run
// at the scalar and the 12x16 tiles below, not again here: NN and TT scalar at one buffer, NN
// scalar double-buffered, NN half-scalar (odd K) here, and single stores in the batched test.
Deno.test({
  name: "matmul tiled: every layout with vec4 loads, odd K (vec4, double-buffered)",
  ...GPU_TEST,
}, async () => {
  const f = await fixtureFor("tiled", { tile: VEC_DB });
  let seed = 10;
  for (const [what, c] of LAYOUT_CASES.filter(([w]) => !/^(NT|NN|TN|TT) odd$/.test(w))) {
    await check(f, c, seed += 3, `tiled ${what}`);
  }
});

Deno.test({
  name: "matmul tiled: scalar loads and one buffer (NN and TT: both staging orientations)",
  ...GPU_TEST,
}, async () => {
  const f = await fixtureFor("tiled", { tile: SCALAR });
  let seed = 30;
  for (const [what, c] of LAYOUT_CASES.filter(([w]) => /^(NN|TT) odd$/.test(w))) {
    await check(f, c, seed += 3, `tiled scalar ${what}`);
  }
});

Deno.test({
  name: "matmul tiled: batch strides, broadcast B, alpha, beta 1, beta 0 over NaN",
  ...GPU_TEST,
}, async () => await checkBatched(await fixtureFor("tiled", { tile: VEC_DB }), "tiled"));

Deno.test(
  { name: "matmul tiled: operands over maxBindingBytes are chunked", ...GPU_TEST },
  async () => await checkChunked(await fixtureFor("tiled", { tile: VEC_DB }), "tiled"),
);

Deno.test({ name: "matmul tiled: 16-bit operands and outputs", ...GPU_TEST }, async () => {
  await checkHalf(await fixtureFor("tiled", { tile: VEC_DB }), "tiled", true);
});

Deno.test(
  { name: "matmul tiled: a tile whose staging does not divide its workgroup", ...GPU_TEST },
  async () => {
    // 12x16 outputs in 4x3 invocations of 4x4: B's 16x4 slice is 16 vec4 (NN odd: 64 scalars)
    // over 12 invocations (a guarded last round); M, N span several tiles.
    const f = await fixtureFor("tiled", { tile: tile(12, 16, 4, 4, 4, true, 2) });
    let seed = 50;
    for (const [what, c] of LAYOUT_CASES.filter(([w]) => /^(NN odd|TT vec4)$/.test(w))) {
      await check(f, c, seed += 3, `tiled 12x16x4/4x4 ${what}`);
    }
  },
);

Deno.test({ name: "matmul tiled: the GPU tile (128x128x8/8x8/vec4/db)", ...GPU_TEST }, async () => {
  // Two workgroups per dimension: one inside C, one at its edge; 3 k-slices and a partial one.
  const f = await fixtureFor("tiled", { tile: GPU_TILE });
  await check(f, { M: 131, N: 140, K: 28, opts: { transB: true } }, 90, "tiled GPU tile NT");
});

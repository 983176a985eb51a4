import { GPU_TEST } from "../../testing.ts";
import { check, checkBatched, checkChunked, fixtureFor, LAYOUT_CASES } from "./testing.ts";

// The policy's default tile (64x64x16/4x4) in every layout; M or N > 64 spans several tiles.
Deno.test({ name: "matmul tiled: every layout, odd and vec4 sizes", ...GPU_TEST }, async () => {
  const f = await fixtureFor("tiled");
  let seed = 10;
  for (const [what, c] of LAYOUT_CASES) await check(f, c, seed += 3, `tiled ${what}`);
});

Deno.test({
  name: "matmul tiled: batch strides, broadcast B, alpha, beta 1, beta 0 over NaN",
  ...GPU_TEST,
}, async () => await checkBatched(await fixtureFor("tiled"), "tiled"));

Deno.test(
  { name: "matmul tiled: operands over maxBindingBytes are chunked", ...GPU_TEST },
  async () => await checkChunked(await fixtureFor("tiled"), "tiled"),
);

Deno.test(
  { name: "matmul tiled: a policy tile whose staging does not divide its workgroup", ...GPU_TEST },
  async () => {
    // 12x16 outputs in 4x3 invocations of 4x4: B's 16x4 slice is 64 elements over 12
    // invocations (a guarded last round). NN and TT stage both operands both ways; M, N span
    // several tiles.
    const f = await fixtureFor("tiled", { tile: { m: 12, n: 16, k: 4, tm: 4, tn: 4 } });
    let seed = 50;
    for (const [what, c] of LAYOUT_CASES.filter(([w]) => /^(NN|TT) /.test(w))) {
      await check(f, c, seed += 3, `tiled 12x16x4/4x4 ${what}`);
    }
  },
);

import { GPU_TEST } from "../../testing.ts";
import {
  check,
  checkBatched,
  checkChunked,
  checkHalf,
  fixtureFor,
  LAYOUT_CASES,
} from "./testing.ts";

// The policy's default block (8x8) in every layout and vec4 mode; M or N > 64 spans several
// workgroups.
Deno.test({ name: "matmul blocked: every layout, odd and vec4 sizes", ...GPU_TEST }, async () => {
  const f = await fixtureFor("blocked");
  let seed = 10;
  for (const [what, c] of LAYOUT_CASES) await check(f, c, seed += 3, `blocked ${what}`);
});

Deno.test({
  name: "matmul blocked: batch strides, broadcast B, alpha, beta 1, beta 0 over NaN",
  ...GPU_TEST,
}, async () => await checkBatched(await fixtureFor("blocked"), "blocked"));

Deno.test(
  { name: "matmul blocked: operands over maxBindingBytes are chunked", ...GPU_TEST },
  async () => await checkChunked(await fixtureFor("blocked"), "blocked"),
);

Deno.test(
  { name: "matmul blocked: a policy block other than the default (4x12)", ...GPU_TEST },
  async () => {
    // 4 rows and 12 columns (3 vec4 groups) per invocation: quad mode (NT vec4, TT vec4) and
    // step mode with vec4 along m / n (TN vec4, odd K) and scalar loads (NN odd).
    const f = await fixtureFor("blocked", { block: { tm: 4, tn: 12 } });
    let seed = 70;
    const which = /^(NT vec4|TT vec4|TN vec4, odd K|NN odd)$/;
    for (const [what, c] of LAYOUT_CASES.filter(([w]) => which.test(w))) {
      await check(f, c, seed += 3, `blocked 4x12 ${what}`);
    }
  },
);

Deno.test({ name: "matmul blocked: 16-bit operands and outputs", ...GPU_TEST }, async () => {
  await checkHalf(await fixtureFor("blocked"), "blocked");
});

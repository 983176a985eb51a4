import { Encoder } from "./encoder.ts";
import type { KernelSpec } from "./kernel.ts";
import { GPU_TEST, gpuFixture } from "./testing.ts";

/** A kernel whose time grows with `u.n` (a dependent chain of multiply-adds per invocation). */
const BUSY: KernelSpec = {
  name: "profile_busy",
  bindings: [{ name: "x", type: "f32", write: true }],
  uniforms: [["n", "u32"]],
  workgroupSize: [64],
  body: `var s = f32(gid.x);
  for (var i = 0u; i < u.n; i++) { s = s * 1.0001 + 0.5; }
  x[gid.x] = s;`,
};

Deno.test({ name: "encoder: profiling times each dispatch on the GPU", ...GPU_TEST }, async (t) => {
  const f = await gpuFixture();
  if (!f.gpu.hasTimestamps) {
    t.step({ name: "no timestamp-query on this adapter", ignore: true, fn: () => {} });
    return;
  }
  const x = f.alloc.alloc([64 * 64], "f32", "workspace", "x");
  const enc = new Encoder(f.gpu);
  enc.dispatch(BUSY, { x }, { n: 1 }, [64]); // compiled outside the profile
  await enc.sync();
  enc.startProfile();
  if (!enc.profiling) throw new Error("not profiling");
  const ns = [4000, 40, 40000];
  for (const n of ns) enc.dispatch(BUSY, { x }, { n }, [64]);
  const wall0 = performance.now();
  const timings = await enc.stopProfile();
  const wall = (performance.now() - wall0) * 1e6;
  if (enc.profiling || timings.length !== 3 || timings.some((d) => d.name !== "profile_busy")) {
    throw new Error(JSON.stringify(timings));
  }
  // Times follow the work (1000x and 10x apart), and no pass outlasts the wall clock.
  const [mid, small, big] = timings.map((d) => d.ns);
  if (!(small > 0 && small < mid && mid < big && big < wall)) {
    throw new Error(`timings ${small}, ${mid}, ${big} ns; wall ${wall} ns`);
  }
  if (big < 3 * mid) throw new Error(`10x the work took ${big / mid}x the time`);
  // Over one query set's worth of dispatches: later batches resolve too, in order.
  enc.startProfile();
  for (let i = 0; i < 2050; i++) enc.dispatch(BUSY, { x }, { n: i === 2049 ? 100000 : 1 }, [1]);
  const many = await enc.stopProfile();
  // The last, 100000x the work, against the median of the others (one of them can be slowed by
  // the machine: a single neighbour is no reference).
  const rest = many.slice(0, 2049).map((d) => d.ns).sort((a, b) => a - b);
  const median = rest[Math.floor(rest.length / 2)];
  if (many.length !== 2050 || !(many[2049].ns > 10 * median)) {
    throw new Error(`${many.length} timings; median ${median}, last ${many[2049]?.ns} ns`);
  }
  // Without timestamp-query it says so by name.
  const plain = new Encoder({ ...f.gpu, hasTimestamps: false });
  try {
    plain.startProfile();
    throw new Error("startProfile without timestamp-query did not throw");
  } catch (e) {
    if (!/has no 'timestamp-query'/.test((e as Error).message)) throw e;
  }
});

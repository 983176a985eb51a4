import { assertClose, GPU_TEST, gpuFixture, randn } from "../testing.ts";
import { adamw, type AdamWParams } from "./adamw.ts";
import { adamwRef } from "./adamw_ref.ts";
import { Allocator } from "../allocator.ts";
import { Encoder } from "../encoder.ts";
import { assertRefuses } from "./half_testing.ts";

const n = 1001; // odd, not a multiple of the workgroup
const STEPS = 6;

Deno.test(
  { name: "adamw matches the reference over 6 steps, whole and chunked", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const p0 = Float32Array.from(randn(n, 1));
    const grads = Array.from({ length: STEPS }, (_, s) => Float32Array.from(randn(n, 10 + s, 2)));
    // [norm, clip factor]: adamw reads the last element by default.
    const gradScale = f.upload([123, 0.37], [2]);
    const base = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };
    const refP = Float64Array.from(p0), refM = new Float64Array(n), refV = new Float64Array(n);
    for (let s = 0; s < STEPS; s++) {
      adamwRef(
        refP,
        grads[s],
        refM,
        refV,
        { ...base, step: s + 1 },
        0.37,
      );
    }
    // 1024-byte bindings: chunks of 193 elements at unaligned element offsets.
    for (const maxBinding of [undefined, 1024]) {
      const param = f.upload(p0, [n], "f32", "param");
      const m = f.upload(new Float32Array(n), [n], "f32", "optimizer");
      const v = f.upload(new Float32Array(n), [n], "f32", "optimizer");
      const grad = f.upload(grads[0], [n], "f32", "grad");
      for (let s = 0; s < STEPS; s++) {
        if (s > 0) f.enc.write(grad, grads[s]);
        const hp: AdamWParams = { ...base, step: s + 1 };
        adamw(f.enc, { param, grad, m, v, n, gradScale, maxBindingBytes: maxBinding }, hp);
      }
      // Params ~N(0,1) move by ~lr per step; f32 rounding of p, m, v over 6 steps.
      assertClose(await f.readF32(param), refP, 1e-6, 1e-6, `param maxBinding=${maxBinding}`);
      assertClose(await f.readF32(m), refM, 1e-7, 1e-5, `m maxBinding=${maxBinding}`);
      assertClose(await f.readF32(v), refV, 1e-8, 1e-5, `v maxBinding=${maxBinding}`);
    }
  },
);

for (const N of [37, 3]) {
  Deno.test(
    { name: `adamw n=${N}: explicit gradScale index, no weight decay`, ...GPU_TEST },
    async () => {
      const f = await gpuFixture();
      const p0 = Float32Array.from(randn(N, 3)), g = Float32Array.from(randn(N, 4));
      const param = f.upload(p0, [N]), grad = f.upload(g, [N]);
      const m = f.upload(new Float32Array(N), [N]), v = f.upload(new Float32Array(N), [N]);
      const hp = { lr: 3e-3, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0, step: 1 };
      const gradScale = f.upload([2.5, 7], [2]);
      adamw(f.enc, { param, grad, m, v, n: N, gradScale, gradScaleIndex: 0 }, hp);
      const refP = Float64Array.from(p0), refM = new Float64Array(N), refV = new Float64Array(N);
      adamwRef(refP, g, refM, refV, hp, 2.5);
      assertClose(await f.readF32(param), refP, 1e-6, 1e-6, "param with gradScale[0]");
      // Adam is nearly invariant to the gradient's scale, but m is not: it shows the index used.
      assertClose(await f.readF32(m), refM, 1e-7, 1e-5, "m with gradScale[0]");
    },
  );
}

Deno.test(
  {
    name: "adamw skip flag: nonzero leaves param, m, v untouched; zero equals no flag",
    ...GPU_TEST,
  },
  async () => {
    const f = await gpuFixture();
    const N = 1031, p0 = Float32Array.from(randn(N, 5)), g = Float32Array.from(randn(N, 6));
    const m0 = Float32Array.from(randn(N, 7, 0.1)), v0 = Float32Array.from(randn(N, 8, 0.1));
    v0.forEach((x, i) => v0[i] = x * x);
    const hp = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, step: 3 };
    const run = async (flag: number | null) => {
      const t = [p0, g, m0, v0].map((x) => f.upload(x, [N]));
      const skip = flag === null ? undefined : f.upload([flag], [1], "u32");
      const gradScale = f.upload([1, 0.5], [2]);
      adamw(f.enc, { param: t[0], grad: t[1], m: t[2], v: t[3], n: N, gradScale }, { ...hp, skip });
      return [await f.readF32(t[0]), await f.readF32(t[2]), await f.readF32(t[3])];
    };
    const [none, zero, one] = [await run(null), await run(0), await run(1)];
    assertClose(zero[0], none[0], 0, 0, "skip = 0: param");
    assertClose(zero[1], none[1], 0, 0, "skip = 0: m");
    assertClose(zero[2], none[2], 0, 0, "skip = 0: v");
    assertClose(one[0], p0, 0, 0, "skip = 1: param untouched (no weight decay either)");
    assertClose(one[1], m0, 0, 0, "skip = 1: m untouched");
    assertClose(one[2], v0, 0, 0, "skip = 1: v untouched");
    if (none[0].every((x, i) => x === p0[i])) throw new Error("the step did not move param");
  },
);

Deno.test("adamw refuses 16-bit tensors by op, binding and tensor (it is f32 by design)", () => {
  // Planning-mode encoders never dispatch, but argument checks still run.
  const enc = new Encoder(null);
  const alloc = new Allocator();
  const t = alloc.alloc([8], "f32", "param", "w"), h = alloc.alloc([8], "bf16", "grad", "dw");
  const hp = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1 };
  assertRefuses(
    () => adamw(enc, { param: t, grad: h, m: t, v: t, n: 8, gradScale: t }, hp),
    ["adamw", "grad", "must be f32", "bf16", "'dw'"],
    "bf16 grad",
  );
});

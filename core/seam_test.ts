/**
 * An elementwise op written once against the dtype seam, as the ops will be: one body for f32,
 * f16 and bf16 storage (pairs, so bf16 is race-free), chunked by element ranges. Its f32 variant
 * is bit-identical to the same kernel written the pre-seam way (raw `array<f32>` indexing), and
 * its 16-bit variants are within one 16-bit ulp of the correctly rounded f64 reference.
 */
import { elementsIn, type FloatDType, unitRoundoff } from "./dtype.ts";
import { type Bindable, type Encoder, rangeOf } from "./encoder.ts";
import { roundedTo, roundTo } from "./half.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "./kernel.ts";
import type { Tensor } from "./tensor.ts";
import { GPU_TEST, gpuFixture, randn } from "./testing.ts";

const WG = 64;
const SILU = "fn silu(v: vec2f) -> vec2f { return v / (1.0 + exp(-v)); }";

/** y = silu(x), one pair of elements per invocation, storage of dtype `d`. */
function siluSpec(d: FloatDType): KernelSpec {
  return {
    name: `test_silu_${d}`,
    bindings: [{ name: "x", dtype: d }, { name: "y", dtype: d, write: true }],
    uniforms: [["n", "u32"]],
    workgroupSize: [WG],
    prelude: SILU,
    body: `${LINEAR_INDEX}
  if (i >= (u.n + 1u) / 2u) { return; }
  y_store2(i, silu(x_load2(i)));`,
  };
}

/** The same kernel before the seam: f32 only, raw indexing, one element per invocation. */
const RAW: KernelSpec = {
  name: "test_silu_raw",
  bindings: [{ name: "x", type: "f32" }, { name: "y", type: "f32", write: true }],
  uniforms: [["n", "u32"]],
  workgroupSize: [WG],
  prelude: SILU,
  body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  y[i] = silu(vec2f(x[i])).x;`,
};

/** Dispatch over n elements in chunks of `per` (a multiple of the storage alignment in elements). */
function silu(enc: Encoder, spec: KernelSpec, y: Tensor, x: Tensor, n: number, per: number): void {
  for (let start = 0; start < n; start += per) {
    const count = Math.min(per, n - start);
    const b: Record<string, Bindable> = {
      x: rangeOf(x, start, count),
      y: rangeOf(y, start, count),
    };
    const items = spec === RAW ? count : Math.ceil(count / 2);
    enc.dispatch(spec, b, { n: count }, groups1d(items, WG));
  }
}

Deno.test({ name: "seam: one elementwise body for f32, f16 and bf16", ...GPU_TEST }, async () => {
  const f = await gpuFixture();
  const n = 1031;
  const data = Array.from(randn(n, 5, 3));
  data.splice(0, 6, 0, -0, 20, -20, 1e-30, 65000);
  const unit = elementsIn("f16", f.gpu.storageAlign) * 3; // chunks of 3 aligned units (odd last)
  const raw = f.alloc.alloc([n], "f32", "workspace", "raw");
  const x32 = f.upload(data, [n]);
  silu(f.enc, RAW, raw, x32, n, unit);
  const want32 = await f.readF32(raw);
  for (const d of ["f32", "bf16", ...(f.gpu.hasF16 ? ["f16" as const] : [])] as const) {
    const x = f.upload(data, [n], d);
    const y = f.alloc.alloc([n], d, "workspace", "y");
    silu(f.enc, siluSpec(d), y, x, n, unit);
    const got = await f.readF32(y);
    const xs = roundedTo(d, data);
    for (let i = 0; i < n; i++) {
      if (d === "f32") {
        if (!Object.is(got[i], want32[i])) throw new Error(`f32 ${i}: ${got[i]} != ${want32[i]}`);
        continue;
      }
      // f32 arithmetic is off by a few f32 ulps, so rounding to 16 bits may land one 16-bit ulp
      // from the correctly rounded value: |got - ref| <= 2 u |ref| (+ the smallest subnormal).
      const ref = xs[i] / (1 + Math.exp(-xs[i]));
      const tol = 2 * unitRoundoff(d) * Math.abs(ref) + (d === "f16" ? 2 ** -24 : 2 ** -133);
      if (!(Math.abs(got[i] - ref) <= tol)) {
        throw new Error(`${d} ${i}: silu(${xs[i]}) = ${got[i]}, ref ${ref} (${roundTo(d, ref)})`);
      }
    }
  }
});

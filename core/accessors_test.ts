/**
 * The dtype seam on the GPU: test kernels written once against the generated accessors load,
 * compute in f32 and store, for every pair of float dtypes, at odd sizes, bit-exact against the
 * host conversions of core/half.ts (NaN compared as NaN: its payload is the adapter's).
 */
import type { StorageWidth } from "./accessors.ts";
import { type FloatDType, isHalf } from "./dtype.ts";
import { f32Bits, f32FromBits, f32ToBf16Bits, f32ToF16Bits, fromHalfBits } from "./half.ts";
import { checkKernel, groups1d, type KernelSpec, LINEAR_INDEX, wgslOf } from "./kernel.ts";
import { view, viewAlignOf } from "./tensor.ts";
import { GPU_TEST, gpuFixture, rng } from "./testing.ts";

const FLOATS: readonly FloatDType[] = ["f32", "f16", "bf16"];
const WG = 64;

/**
 * y = a * x through one access pattern per `mode`: 0 x_load -> y_store (not bf16 outputs),
 * 1 x_load -> y_store2 (pairs of single loads), 2 x_load2 -> y_store2, 4 x_load4 -> y_store4.
 */
function scaleSpec(src: FloatDType, dst: FloatDType, width: StorageWidth): KernelSpec {
  const single = dst !== "bf16" ? "if (i < u.n) { y_store(i, u.a * x_load(i)); }" : "";
  return {
    name: `test_scale_${src}_${dst}_w${width}`,
    bindings: [{ name: "x", dtype: src, width }, { name: "y", dtype: dst, width, write: true }],
    uniforms: [["n", "u32"], ["a", "f32"], ["mode", "u32"]],
    workgroupSize: [WG],
    body: `${LINEAR_INDEX}
  if (u.mode == 0u) { ${single} }
  else if (u.mode == 1u) {
    if (i < (u.n + 1u) / 2u) { y_store2(i, u.a * vec2f(x_load(2u * i), x_load(2u * i + 1u))); }
  } else if (u.mode == 2u) {
    if (i < (u.n + 1u) / 2u) { y_store2(i, u.a * x_load2(i)); }
  } else if (i < (u.n + 3u) / 4u) { y_store4(i, u.a * x_load4(i)); }`,
  };
}

const specs = new Map<string, KernelSpec>();
function scale(src: FloatDType, dst: FloatDType, width: StorageWidth): KernelSpec {
  const key = `${src}|${dst}|${width}`;
  let s = specs.get(key);
  if (!s) specs.set(key, s = scaleSpec(src, dst, width));
  return s;
}

/** f32 bit patterns the conversions must get right (in an order that puts ties first). */
const SPECIAL_BITS: readonly number[] = [
  1 + 2 ** -11, // f16 tie -> 1 (even)
  1 + 2 ** -8, // bf16 tie -> 1 (even)
  NaN,
  1 + 3 * 2 ** -11, // f16 tie -> 1 + 2^-9 (even)
  1 + 3 * 2 ** -8, // bf16 tie -> 1 + 2^-6
  -(1 + 2 ** -11),
  1 + 2 ** -11 + 2 ** -23, // just above the f16 tie
  1 + 2 ** -11 - 2 ** -23, // just below
  1 + 2 ** -8 + 2 ** -23,
  0,
  -0,
  1,
  -1,
  65504, // f16 max finite
  65519, // -> 65504
  65520, // f16 tie to Inf
  -65520,
  65536,
  2 ** -24, // f16 min subnormal
  2 ** -25, // f16 tie -> 0
  3 * 2 ** -25, // f16 tie -> 2^-23
  2 ** -14 - 2 ** -25, // f16 tie -> 2^-14 (min normal)
  1.25 * 2 ** -24,
  -(2 ** -24),
  2 ** -14,
  Infinity,
  -Infinity,
].map(f32Bits).concat([
  0x00000001, // f32 min subnormal
  0x007fffff, // f32 max subnormal
  0x80000200,
  0x00010000, // bf16 subnormal, exact
  0x00018000, // bf16 tie in the subnormals -> 0x0002
  0x00008000, // bf16 tie -> 0
  0x00800000, // f32 min normal
  0x7f7fffff, // f32 max finite: bf16 and f16 Inf
  0x7f7f7fff, // -> bf16 0x7f7f (max finite)
  0x7f7f8000, // bf16 tie at the top -> Inf
  0x7f7f0000, // bf16 max finite, exact
  0xff7fffff,
  0x7fc00000, // quiet NaN
  0xffc00000, // negative NaN
  0x7f800001, // NaN with only a low payload bit (truncation would give Inf)
  0x7fbfffff,
]);

/** n f32 bit patterns: the specials, then random words, values in f16's range, and near-ties. */
function inputBits(n: number, seed: number): Uint32Array {
  const r = rng(seed);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (i < SPECIAL_BITS.length) out[i] = SPECIAL_BITS[i];
    else if (i % 3 === 0) out[i] = Math.floor(r() * 2 ** 32);
    else if (i % 3 === 1) {
      out[i] = f32Bits((r() < 0.5 ? -1 : 1) * 2 ** (Math.floor(r() * 44) - 26) * (1 + r()));
    } else {
      // Within one f32 ulp of a 16-bit tie (16-bit mantissa, then the half-ulp bit set).
      const keep = r() < 0.5 ? 13 : 16;
      const tie = ((Math.floor(r() * 2 ** 32) >>> keep) << keep) | (1 << (keep - 1));
      out[i] = (tie + Math.floor(r() * 3) - 1) >>> 0;
    }
  }
  return out;
}

/** The bits `dst` stores for the f32 value v (host conversion). */
function bitsOf(dst: FloatDType, v: number): number {
  return dst === "f32" ? f32Bits(v) : dst === "f16" ? f32ToF16Bits(v) : f32ToBf16Bits(v);
}

/** The value of element i of `src` as uploaded (the host rounds f32 inputs to the dtype). */
function storedValue(src: FloatDType, bits: number): number {
  const v = f32FromBits(bits);
  return src === "f32" ? v : fromHalfBits(src, bitsOf(src, v));
}

function isNanBits(dst: FloatDType, b: number): boolean {
  return dst === "f32"
    ? (b & 0x7fffffff) > 0x7f800000
    : dst === "f16"
    ? (b & 0x7fff) > 0x7c00
    : (b & 0x7fff) > 0x7f80;
}

const hex = (v: number) => `0x${(v >>> 0).toString(16)}`;

const SENTINEL = 0xdeadbeef;

Deno.test({
  name: "accessors: load, compute in f32, store for every float dtype pair, bit-exact",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const pairs: [FloatDType, FloatDType, StorageWidth][] = [];
  for (const s of FLOATS) for (const d of FLOATS) pairs.push([s, d, 1]);
  // Width 4: each dtype once as a vector source and once as a vector destination.
  pairs.push(["f32", "bf16", 4], ["bf16", "f16", 4], ["f16", "f32", 4]);
  for (const [src, dst, width] of pairs) {
    if ((src === "f16" || dst === "f16") && !f.gpu.hasF16) continue;
    const spec = scale(src, dst, width);
    await checkKernel(f.gpu, spec);
    for (const n of width === 4 ? [4, 36, 1028] : [1, 3, 37, 1031]) {
      const bits = inputBits(n, 7 * n + 1);
      const x = f.alloc.alloc([n], src, "workspace", "x");
      f.enc.writeFromF32(x, new Float32Array(bits.buffer));
      // y: a view of n elements at the first aligned offset of a sentinel-filled tensor, with a
      // 256-byte tail, so that writes outside y's words would show.
      const pre = viewAlignOf(dst);
      const whole = f.alloc.alloc([pre + n + pre], dst, "workspace", "whole");
      const y = view(whole, pre, [n]);
      const wordsBefore = 64, wordsOfY = y.bytes / 4;
      for (const mode of [0, 1, 2, 4]) {
        if (mode === 0 && dst === "bf16") continue;
        for (const a of [1, -2]) {
          f.enc.write(whole, new Uint32Array(whole.bytes / 4).fill(SENTINEL));
          const per = mode === 0 ? 1 : mode === 4 ? 4 : 2;
          f.enc.dispatch(spec, { x, y }, { n, a, mode }, groups1d(Math.ceil(n / per), WG));
          const got = new Uint32Array(await f.enc.read(whole));
          const what = `${spec.name} n=${n} mode=${mode} a=${a}`;
          for (let w = 0; w < got.length; w++) {
            const inside = w >= wordsBefore && w < wordsBefore + wordsOfY;
            if (!inside && got[w] !== SENTINEL) {
              throw new Error(`${what}: word ${w} outside y was written (${hex(got[w])})`);
            }
          }
          const out = isHalf(dst)
            ? new Uint16Array(got.buffer, 4 * wordsBefore, n)
            : got.subarray(wordsBefore, wordsBefore + n);
          for (let i = 0; i < n; i++) {
            const v = Math.fround(a * storedValue(src, bits[i]));
            const want = bitsOf(dst, v);
            const ok = isNanBits(dst, want) ? isNanBits(dst, out[i]) : out[i] === want;
            // WGSL lets f32 arithmetic flush subnormals; the software adapter keeps them.
            const flushed = !f.gpu.isSoftware && v !== 0 && Math.abs(v) < 2 ** -126 &&
              (out[i] & 0x7fffffff) === 0;
            if (!ok && !flushed) {
              throw new Error(
                `${what}: element ${i} (input ${hex(bits[i])}): got ${hex(out[i])}, ` +
                  `want ${hex(want)}`,
              );
            }
          }
        }
      }
      f.alloc.release(x);
      f.alloc.release(whole);
    }
  }
});

Deno.test("accessors: generated declarations and accessors per dtype and width", () => {
  const w = wgslOf(scale("bf16", "f16", 1));
  const has = (s: string) => {
    if (!w.includes(s)) throw new Error(`missing '${s}' in\n${w}`);
  };
  has("enable f16;");
  has("var<storage, read> x: array<u32>;");
  has("var<storage, read_write> y: array<f16>;");
  has("fn bf16_bits(v: f32) -> u32");
  for (const a of ["load(_i: u32) -> f32", "load2(_p: u32) -> vec2f", "load4(_q: u32) -> vec4f"]) {
    has(`fn x_${a}`);
    has(`fn y_${a}`);
  }
  has("fn y_store(_i: u32, _v: f32)");
  has("fn y_store2(_p: u32, _v: vec2f)");
  if (w.includes("fn x_store")) throw new Error("a read-only binding got store accessors");
  const v = wgslOf(scale("f32", "bf16", 4));
  for (
    const s of ["x: array<vec4<f32>>", "y: array<vec2<u32>>", "fn y_store4(_q: u32, _v: vec4f)"]
  ) {
    if (!v.includes(s)) throw new Error(`missing '${s}' in\n${v}`);
  }
  if (v.includes("enable f16;")) throw new Error("f16 enabled without an f16 binding");
  if (v.includes("fn y_store(")) throw new Error("bf16 got a single-element store");
  // Mask and integer dtypes: word declarations, no accessors.
  const m = wgslOf({
    name: "masks",
    bindings: [{ name: "m", dtype: "bit" }, { name: "k", dtype: "i32", write: true }],
    workgroupSize: [8],
    body: "k[0] = i32(m[0]);",
  });
  if (!m.includes("m: array<u32>;") || !m.includes("k: array<i32>;") || m.includes("fn m_load")) {
    throw new Error(m);
  }
});

function refusal(spec: KernelSpec): string {
  try {
    wgslOf(spec);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`${spec.name} was not refused`);
}

Deno.test("accessors: the generator refuses racing and impossible stores by kernel and binding", () => {
  const base = { workgroupSize: [8] as [number], uniforms: [["n", "u32"]] as [string, "u32"][] };
  const single = refusal({
    ...base,
    name: "halves_race",
    bindings: [{ name: "x", dtype: "f32" }, { name: "out", dtype: "bf16", write: true }],
    body: "out_store(gid.x, x_load(gid.x));",
  });
  for (const s of ["'halves_race'", "'out'", "bf16", "whole pairs", "out_store2"]) {
    if (!single.includes(s)) throw new Error(`refusal lacks ${s}: ${single}`);
  }
  // The same body in a prelude helper is found too; store2 on bf16 is fine.
  refusal({
    ...base,
    name: "in_prelude",
    bindings: [{ name: "y", dtype: "bf16", write: true }],
    prelude: "fn put(i: u32) { y_store (i, 1.0); }",
    body: "put(gid.x);",
  });
  wgslOf({
    ...base,
    name: "pairs_ok",
    bindings: [{ name: "y", dtype: "bf16", write: true }, { name: "z_y", dtype: "f32" }],
    body: "y_store2(gid.x, vec2f(z_y_load(0u)));",
  });
  const ro = refusal({
    ...base,
    name: "read_only",
    bindings: [{ name: "x", dtype: "f16" }],
    body: "x_store2(0u, vec2f(0.0));",
  });
  if (!ro.includes("'x' is read-only") || !ro.includes("'read_only'")) throw new Error(ro);
  const both = refusal({
    ...base,
    name: "both",
    bindings: [{ name: "x", dtype: "f32", type: "f32" } as unknown as KernelSpec["bindings"][0]],
    body: "",
  });
  if (!both.includes("exactly one of 'type'")) throw new Error(both);
  const width = refusal({
    ...base,
    name: "width",
    bindings: [{ name: "x", dtype: "f32", width: 2 as 4 }],
    body: "",
  });
  if (!width.includes("width 2")) throw new Error(width);
});

Deno.test({
  name: "accessors: bindings named like the accessors' parameters and locals are not shadowed",
  ...GPU_TEST,
}, async () => {
  // b, n, w, v, j are the names of the accessors' locals before they got a leading underscore.
  const spec: KernelSpec = {
    name: "test_accessor_names",
    bindings: [
      { name: "b", dtype: "f32" },
      { name: "v", dtype: "bf16" },
      { name: "w", dtype: "f32", width: 4 },
      { name: "n", dtype: "f32", write: true },
      { name: "j", dtype: "bf16", write: true },
    ],
    workgroupSize: [1],
    body: "n_store4(0u, b_load4(0u) + v_load4(0u) + w_load4(0u)); j_store4(0u, b_load4(0u));",
  };
  const f = await gpuFixture();
  await checkKernel(f.gpu, spec);
  const data = [1, 2, 3, 4];
  const t = (d: FloatDType) => f.upload(data, [4], d);
  const n = f.alloc.alloc([4], "f32", "workspace", "n"),
    j = f.alloc.alloc([4], "bf16", "workspace", "j");
  f.enc.dispatch(spec, { b: t("f32"), v: t("bf16"), w: t("f32"), n, j }, {}, [1, 1, 1]);
  const got = [...await f.readF32(n), ...await f.readF32(j)];
  if (got.join() !== "3,6,9,12,1,2,3,4") throw new Error(`got ${got}`);
});

/**
 * Storage declarations and typed accessors of dtype bindings (`{ name, dtype }` in a kernel
 * spec's `bindings`), so that a kernel body is written once for every storage type and computes
 * in f32. For a binding `x`:
 *
 * | accessor                     | elements   | f32 | f16 | bf16 | needs `write` |
 * | ---------------------------- | ---------- | --- | --- | ---- | ------------- |
 * | `x_load(i: u32) -> f32`      | i          | yes | yes | yes  |               |
 * | `x_load2(p: u32) -> vec2f`   | 2p, 2p+1   | yes | yes | yes  |               |
 * | `x_load4(q: u32) -> vec4f`   | 4q .. 4q+3 | yes | yes | yes  |               |
 * | `x_store(i: u32, v: f32)`    | i          | yes | yes | no   | yes           |
 * | `x_store2(p: u32, v: vec2f)` | 2p, 2p+1   | yes | yes | yes  | yes           |
 * | `x_store4(q: u32, v: vec4f)` | 4q .. 4q+3 | yes | yes | yes  | yes           |
 *
 * **A kernel writing 16-bit outputs writes whole pairs.** bf16 elements are halves of u32 words
 * (kernels without `shader-f16` have no 16-bit stores), so two invocations storing the two
 * halves of one word would race; bf16 therefore has no `x_store`, and the generator refuses a
 * body that calls it (by kernel and binding name). A body that is to serve every float dtype uses
 * `x_store2`/`x_store4` only. At an odd element count the last pair's second element is the
 * padding half: for 16-bit dtypes it lies inside the tensor's last word (written harmlessly;
 * for a view or range of odd count inside a larger tensor it is the parent's next element, so
 * chunks end at even counts except the last); for f32 the accessors skip elements past the bound
 * range (`arrayLength`), and likewise the
 * elements of a quad past it, so a pair or quad never writes outside its binding. Loads past the
 * end return an unspecified value (WGSL's out-of-bounds rule) and never fault.
 *
 * Width (`width: 4`) declares the storage as vectors (f32 `vec4<f32>`, f16 `vec4<f16>`, bf16
 * `vec2<u32>`): `x_load4`/`x_store4` are then one access (what the vec4 kernels of the software
 * adapter want), single and pair accesses index into the vector. A width-4 binding must hold
 * whole quads (elements a multiple of 4, offsets 4-aligned): its accessors do no bounds checks.
 *
 * Conversions: bf16 loads are shifts (exact); bf16 stores round to nearest even in integer
 * arithmetic on the f32 bits (`bf16_bits`), keeping NaN a NaN and Inf an Inf, overflowing to
 * Inf. f16 uses WGSL's `f16(v)` (WGSL leaves its rounding to the implementation; lavapipe rounds
 * to nearest even, overflows to Inf at 65520 and keeps subnormals, which the dtype tests pin)
 * and `f32(h)` (exact). The module-scope helpers `bf16_bits(v: f32) -> u32`,
 * `bf16_pack2(v: vec2f) -> u32` (element 2p in the low half) and `bf16_unpack2(w: u32) -> vec2f`
 * are there for bodies that handle words themselves whenever a bf16 binding exists.
 * Integer and mask dtypes (`i32`, `u32`, `u8`, `bit`) get their word declaration only.
 * @module
 */
import { type DType, isFloat } from "./dtype.ts";

/** Vector width of a dtype binding's storage: 1 (scalars or words) or 4 (vectors of 4 elements). */
export type StorageWidth = 1 | 4;

/** The WGSL element type of a dtype binding: the binding is `array<that>`. */
export function storageTypeOf(dtype: DType, width: StorageWidth = 1): string {
  const w4 = width === 4;
  switch (dtype) {
    case "f32":
      return w4 ? "vec4<f32>" : "f32";
    case "f16":
      return w4 ? "vec4<f16>" : "f16";
    case "bf16":
      return w4 ? "vec2<u32>" : "u32";
    case "i32":
      return w4 ? "vec4<i32>" : "i32";
    case "u32":
    case "u8":
    case "bit":
      return w4 ? "vec4<u32>" : "u32";
  }
}

/** WGSL of the bf16 helpers (emitted once per kernel with a bf16 binding). */
export const BF16_WGSL = `
// bf16 bits of v in the low half: round to nearest even; NaN stays NaN (quiet bit), Inf stays Inf.
fn bf16_bits(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  return select((b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u, (b >> 16u) | 0x40u,
                (b & 0x7fffffffu) > 0x7f800000u);
}
fn bf16_pack2(v: vec2f) -> u32 { return bf16_bits(v.x) | (bf16_bits(v.y) << 16u); }
fn bf16_unpack2(w: u32) -> vec2f { return vec2f(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u)); }`;

/**
 * WGSL of `f16_round4(v: vec4f) -> vec4f`: each channel rounded to the nearest f16 value (ties to
 * even) and returned as f32: Inf from 65520 up, f16 subnormals kept (WGSL's `round` is ties to
 * even), NaN stays NaN. Integer and exact arithmetic only, so it needs no `shader-f16` and no
 * compiler can fold it away. Texture stores to rgba16float go through it: lavapipe's format
 * conversion truncates toward zero and clamps finite overflow to 65504 (measured), which Vulkan
 * permits; a value that is already an f16 value is stored exactly by any rounding.
 */
export const F16_ROUND_WGSL = `
fn f16_round4(v: vec4f) -> vec4f {
  let b = bitcast<vec4u>(v);
  let a = b & vec4u(0x7fffffffu);
  let nrm = (a + vec4u(0xfffu) + ((a >> vec4u(13u)) & vec4u(1u))) & vec4u(0xffffe000u);
  let sub = bitcast<vec4u>(round(bitcast<vec4f>(a) * 16777216.0) * 5.9604644775390625e-8);
  var r = select(sub, nrm, a >= vec4u(0x38800000u));
  r = select(r, vec4u(0x7f800000u), a >= vec4u(0x477ff000u));
  r = select(r, a | vec4u(0x00400000u), a > vec4u(0x7f800000u));
  return bitcast<vec4f>(r | (b & vec4u(0x80000000u)));
}`;

/**
 * WGSL accessors of texture binding `t`: `t_load(xy: vec2u) -> vec4f` (sampled or read-only;
 * hides the level argument of sampled loads) or `t_store(xy: vec2u, v: vec4f)` (write; for
 * rgba16float through `f16_round4`, so stores round to nearest even on every adapter).
 */
export function textureAccessorWgsl(
  t: string,
  access: "sampled" | "read" | "write",
  format: "rgba32float" | "rgba16float",
): string {
  if (access === "write") {
    const v = format === "rgba16float" ? "f16_round4(v)" : "v";
    return `fn ${t}_store(xy: vec2u, v: vec4f) { textureStore(${t}, xy, ${v}); }`;
  }
  return `fn ${t}_load(xy: vec2u) -> vec4f { return textureLoad(${t}, xy${
    access === "sampled" ? ", 0" : ""
  }); }`;
}

/** The accessor names a binding can have (suffixes of `<name>_`). */
export const ACCESSORS = ["load", "load2", "load4", "store", "store2", "store4"] as const;

/** One accessor name. */
export type Accessor = typeof ACCESSORS[number];

/** The accessors generated for a binding of `dtype` (none for integer and mask dtypes). */
export function accessorsFor(dtype: DType, write: boolean): Accessor[] {
  if (!isFloat(dtype)) return [];
  const loads: Accessor[] = ["load", "load2", "load4"];
  if (!write) return loads;
  return [...loads, ...(dtype === "bf16" ? [] : ["store" as const]), "store2", "store4"];
}

/** The binding in the accessor templates, replaced by its name once the locals are renamed. */
const SELF = "@self";

/**
 * WGSL functions of the accessors of binding `x` (the declaration is the caller's). Their
 * parameters and locals get a leading underscore (`_i`, `_v`, `_b`, ...), which binding names do
 * not have, so that a binding named like one of them (`v`, `b`, `n`) is not shadowed.
 */
export function accessorWgsl(x: string, dtype: DType, width: StorageWidth, write: boolean): string {
  if (!isFloat(dtype)) return "";
  const f: Record<Accessor, string> = width === 4
    ? vec4Bodies(SELF, dtype)
    : scalarBodies(SELF, dtype);
  const sig: Record<Accessor, string> = {
    load: `(i: u32) -> f32`,
    load2: `(p: u32) -> vec2f`,
    load4: `(q: u32) -> vec4f`,
    store: `(i: u32, v: f32)`,
    store2: `(p: u32, v: vec2f)`,
    store4: `(q: u32, v: vec4f)`,
  };
  const local = (code: string) =>
    code.replace(/(?<![A-Za-z0-9_@.])([ipqvwbnj])(?![A-Za-z0-9_])/g, "_$1").replaceAll(SELF, x);
  return accessorsFor(dtype, write).map((a) => `fn ${x}_${a}${local(`${sig[a]} { ${f[a]} }`)}`)
    .join("\n");
}

function scalarBodies(x: string, dtype: DType): Record<Accessor, string> {
  const len = `arrayLength(&${x})`;
  if (dtype === "bf16") {
    return {
      load: `let w = ${x}[i >> 1u]; ` +
        `return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u));`,
      load2: `return bf16_unpack2(${x}[p]);`,
      load4: `return vec4f(bf16_unpack2(${x}[2u * q]), bf16_unpack2(${x}[2u * q + 1u]));`,
      store: "",
      store2: `${x}[p] = bf16_pack2(v);`,
      store4: `${x}[2u * q] = bf16_pack2(v.xy); ` +
        `if (2u * q + 1u < ${len}) { ${x}[2u * q + 1u] = bf16_pack2(v.zw); }`,
    };
  }
  // f32 and f16 are element arrays; f16's length is even (whole words), f32's may be odd.
  const c = dtype === "f16" ? "f16" : "";
  const to = (v: string) => (c ? `f16(${v})` : v);
  const from = (v: string) => (c ? `f32(${v})` : v);
  return {
    load: `return ${from(`${x}[i]`)};`,
    load2: `return vec2f(${from(`${x}[2u * p]`)}, ${from(`${x}[2u * p + 1u]`)});`,
    load4: `let b = 4u * q; return vec4f(${from(`${x}[b]`)}, ${from(`${x}[b + 1u]`)}, ` +
      `${from(`${x}[b + 2u]`)}, ${from(`${x}[b + 3u]`)});`,
    store: `${x}[i] = ${to("v")};`,
    store2: c
      ? `${x}[2u * p] = f16(v.x); ${x}[2u * p + 1u] = f16(v.y);`
      : `let b = 2u * p; ${x}[b] = v.x; if (b + 1u < ${len}) { ${x}[b + 1u] = v.y; }`,
    store4: c
      ? `let b = 4u * q; ${x}[b] = f16(v.x); ${x}[b + 1u] = f16(v.y); ` +
        `if (b + 2u < ${len}) { ${x}[b + 2u] = f16(v.z); ${x}[b + 3u] = f16(v.w); }`
      : `let b = 4u * q; let n = ${len}; ${x}[b] = v.x; ` +
        `if (b + 1u < n) { ${x}[b + 1u] = v.y; } if (b + 2u < n) { ${x}[b + 2u] = v.z; } ` +
        `if (b + 3u < n) { ${x}[b + 3u] = v.w; }`,
  };
}

function vec4Bodies(x: string, dtype: DType): Record<Accessor, string> {
  if (dtype === "bf16") {
    // vec2<u32>: word (p & 1) of vector p >> 1 holds pair p.
    return {
      load: `let w = ${x}[i >> 2u][(i >> 1u) & 1u]; ` +
        `return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u));`,
      load2: `return bf16_unpack2(${x}[p >> 1u][p & 1u]);`,
      load4: `let w = ${x}[q]; return vec4f(bf16_unpack2(w.x), bf16_unpack2(w.y));`,
      store: "",
      store2: `${x}[p >> 1u][p & 1u] = bf16_pack2(v);`,
      store4: `${x}[q] = vec2u(bf16_pack2(v.xy), bf16_pack2(v.zw));`,
    };
  }
  const c = dtype === "f16";
  const to = (v: string) => (c ? `f16(${v})` : v);
  const from = (v: string) => (c ? `f32(${v})` : v);
  return {
    load: `return ${from(`${x}[i >> 2u][i & 3u]`)};`,
    load2: `let w = ${c ? `vec4f(${x}[p >> 1u])` : `${x}[p >> 1u]`}; ` +
      `return select(w.xy, w.zw, (p & 1u) == 1u);`,
    load4: `return ${c ? `vec4f(${x}[q])` : `${x}[q]`};`,
    store: `${x}[i >> 2u][i & 3u] = ${to("v")};`,
    store2: `let j = 2u * (p & 1u); ${x}[p >> 1u][j] = ${to("v.x")}; ` +
      `${x}[p >> 1u][j + 1u] = ${to("v.y")};`,
    store4: `${x}[q] = ${c ? "vec4<f16>(v)" : "v"};`,
  };
}

/**
 * The accessors of `x` that `code` calls, e.g. to refuse a bf16 single-element store. Matches
 * `x_store(` as a whole identifier (not `x_store2(` nor `y_x_store(`).
 */
export function accessorsCalled(code: string, x: string): Accessor[] {
  return ACCESSORS.filter((a) => new RegExp(`(^|[^A-Za-z0-9_])${x}_${a}\\s*\\(`).test(code));
}

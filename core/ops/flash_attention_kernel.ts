/**
 * What the fused attention kernels share (`flash_attention_blocked.ts` for the software adapter,
 * `flash_attention_tiled.ts` for GPUs): the uniforms, the bindings, and the WGSL of the mask and
 * dropout decisions.
 *
 * Layouts (B batch items of one chunk, C = NH*HS, all in vec4 units: HS % 4 == 0):
 * - `qkv` / `dqkv` [B, T, 3C]: token (b, t), head h: Q at ((b*T + t)*3*C4 + h*HS4), K at + C4,
 *   V at + 2*C4 (C4 = C/4, HS4 = HS/4);
 * - `out` / `dout` [B, T, C]: token (b, t), head h at (b*T + t)*C4 + h*HS4;
 * - `lse` / `D` [B, NH, T] f32: row (b*NH + h)*T + t;
 * - `pad` [B*T] i32 (1 real, 0 pad): key j of batch item b at b*T + j, read only when `hasPad`
 *   (without a mask the op binds qkv in its place, read-only and never read: one kernel serves
 *   both, which halves the kernels to compile).
 * Dropout decisions are those of the unfused layer's dropout of P: element
 * e = offset + ((b0 + b)*NH + h)*T*T + i*T + j of the flat [B, NH, T, T] index (b0: the chunk's
 * first batch item), decided by `dropout_keep4_at` (rng.ts) on the 64-bit quad index e / 4.
 * @module
 */
import type { FloatDType } from "../dtype.ts";
import type { BindingSpec, KernelSpec } from "../kernel.ts";
import { DROPOUT_KEEP_WGSL } from "./rng.ts";

/** Uniforms of every fused attention kernel. */
export const FLASH_UNIFORMS: NonNullable<KernelSpec["uniforms"]> = [
  ["B", "u32"], // batch items in this chunk
  ["T", "u32"],
  ["NH", "u32"],
  ["C4", "u32"], // C / 4
  ["b0", "u32"], // first batch item of the chunk (dropout index)
  ["causal", "u32"],
  ["scale", "f32"], // 1 / sqrt(HS)
  ["threshold", "u32"], // dropout keep threshold (2^24: keep all)
  ["seed", "u32"],
  ["stream", "u32"],
  ["offLo", "u32"], // dropout element offset, low and high words
  ["offHi", "u32"],
  ["keepScale", "f32"], // 1 / (1 - p)
  ["hasPad", "u32"],
];

/** Which kernel of the three. */
export type FlashPass = "fwd" | "dq" | "dkv";

/** What a kernel is specialised on. */
export interface FlashSpecKey {
  /** The pass. */
  pass: FlashPass;
  /** Storage dtype of qkv, out, dout, dqkv. */
  dtype: FloatDType;
  /** Head size (a multiple of 4). */
  HS: number;
}

/** The storage bindings of a pass (typed vec4 bindings for the 16-bit-capable tensors). */
export function flashBindings(k: FlashSpecKey): BindingSpec[] {
  const d = k.dtype;
  const pad: BindingSpec[] = [{ name: "pad", type: "i32" }];
  if (k.pass === "fwd") {
    return [
      { name: "qkv", dtype: d, width: 4 },
      ...pad,
      { name: "out", dtype: d, width: 4, write: true },
      { name: "lse", type: "f32", write: true },
    ];
  }
  return [
    { name: "qkv", dtype: d, width: 4 },
    ...pad,
    { name: "out", dtype: d, width: 4 },
    { name: "dout", dtype: d, width: 4 },
    { name: "lse", type: "f32" },
    { name: "D", type: "f32", write: k.pass === "dq" },
    { name: "dqkv", dtype: d, width: 4, write: true },
  ];
}

/** The spec name of a pass's kernel in a variant. */
export function flashSpecName(variant: string, k: FlashSpecKey, extra = ""): string {
  return `flash_${k.pass}_${variant}${extra}_hs${k.HS}_${k.dtype}`;
}

/** Largest finite f32, negated: the running maximum's start (exp(NEG - NEG) = 1, never NaN). */
export const NEG = "-3.40282347e38";

/**
 * WGSL of the decisions (after DROPOUT_KEEP_WGSL):
 * - `fa_key_ok(b, j) -> bool`: key j of batch item b is not padding (true without a pad mask);
 * - `fa_row_base(row) -> vec2u`: (lo, hi) of the dropout element index of (row, key 0), row the
 *   global [B, NH, T] row ((b0 + b)*NH + h)*T + i;
 * - `fa_keep4(base, j) -> u32`: keep bits of keys j .. j+3 of that row (bit k: key j + k),
 *   all ones without dropout.
 */
export function flashPrelude(): string {
  return `${DROPOUT_KEEP_WGSL}
fn fa_key_ok(b: u32, j: u32) -> bool {
  return u.hasPad == 0u || pad[b * u.T + j] != 0;
}
fn fa_add64(a: vec2u, x: u32) -> vec2u {
  let lo = a.x + x;
  return vec2u(lo, a.y + select(0u, 1u, lo < x));
}
fn fa_row_base(row: u32) -> vec2u {
  let e = vec2u(row * u.T, philox_mulhi(row, u.T));
  let lo = e.x + u.offLo;
  return vec2u(lo, e.y + u.offHi + select(0u, 1u, lo < u.offLo));
}
fn fa_quad(q: vec2u) -> u32 {
  let k = dropout_keep4_at(q.x, q.y, u.stream, u.seed, u.threshold);
  return select(0u, 1u, k.x) | select(0u, 2u, k.y) | select(0u, 4u, k.z) | select(0u, 8u, k.w);
}
fn fa_keep4(base: vec2u, j: u32) -> u32 {
  if (u.threshold >= 16777216u) { return 15u; }
  let e = fa_add64(base, j);
  let q = vec2u((e.x >> 2u) | (e.y << 30u), e.y >> 2u);
  let r = e.x & 3u;
  // Elements e .. e+3 span one quad (r = 0) or two; one call site (a loop of 1 or 2), so that the
  // Philox code is compiled once.
  var bits = 0u;
  for (var t = 0u; t < select(1u, 2u, r != 0u); t++) { bits |= fa_quad(fa_add64(q, t)) << (4u * t); }
  return (bits >> r) & 15u;
}`;
}

/** Unrolled WGSL: `f(i)` for i in [0, n), joined by newlines. */
export function unroll(n: number, f: (i: number) => string): string {
  return Array.from({ length: n }, (_, i) => f(i)).join("\n  ");
}

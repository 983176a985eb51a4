/**
 * KV cache append for incremental decoding: the K and V thirds of a fused QKV projection
 * qkv [B, n, 3C] (columns [Q | K | V], each NH*HS head-major, as `splitHeads` reads them) are
 * copied into one layer's caches k, v [B, NH, Tmax, HS] at positions start .. start + n - 1.
 * A pure copy (exact), vec4 when HS % 4 == 0. The caches are one binding each: a cache larger
 * than that (B * NH * Tmax * HS * 4 bytes) is refused by name.
 * @module
 */
import type { Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needF32 } from "./checks.ts";

const WG = 64;

/** Shapes of a call on a layer's KV cache: n new positions after `start` cached ones. */
export interface KvCallShape {
  /** Batch. */
  B: number;
  /** New positions. */
  n: number;
  /** Heads. */
  NH: number;
  /** Head size (C = NH * HS). */
  HS: number;
  /** Positions the cache holds. */
  Tmax: number;
  /** First new position (the number already cached). */
  start: number;
}

/** What `kvAppend` reads and writes. */
export interface KvAppendArgs extends KvCallShape {
  /** [B, n, 3C] f32: the new positions' fused projection (only its K and V thirds are read). */
  qkv: Tensor;
  /** [B, NH, Tmax, HS] f32 key cache, written at rows start .. start + n - 1. */
  k: Tensor;
  /** [B, NH, Tmax, HS] f32 value cache, likewise. */
  v: Tensor;
}

function specOf(vec: 1 | 4): KernelSpec {
  const name = `kv_append_v${vec}`;
  return cachedSpec(name, () => {
    const type = vec === 4 ? "vec4<f32>" : "f32";
    return {
      name,
      bindings: [
        { name: "qkv", type },
        { name: "k", type, write: true },
        { name: "v", type, write: true },
      ],
      uniforms: [
        ["count", "u32"],
        ["n", "u32"],
        ["NH", "u32"],
        ["HSv", "u32"],
        ["Tmax", "u32"],
        ["start", "u32"],
      ],
      workgroupSize: [WG],
      body: `${LINEAR_INDEX}
  if (i >= u.count) { return; }
  let d = i % u.HSv;
  let r = i / u.HSv;
  let t = r % u.n;
  let bh = r / u.n;
  let h = bh % u.NH;
  let b = bh / u.NH;
  let Cv = u.NH * u.HSv;
  let src = (b * u.n + t) * 3u * Cv + h * u.HSv + d;
  let dst = (bh * u.Tmax + u.start + t) * u.HSv + d;
  k[dst] = qkv[src + Cv];
  v[dst] = qkv[src + 2u * Cv];`,
    };
  });
}

/** Copy the new positions' keys and values into the caches (see the module doc). */
export function kvAppend(enc: Encoder, a: KvAppendArgs): void {
  const { B, n, NH, HS, Tmax, start } = a;
  for (const [name, v] of [["B", B], ["n", n], ["NH", NH], ["HS", HS], ["Tmax", Tmax]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`kvAppend: ${name} must be >= 1, got ${v}`);
  }
  if (!Number.isInteger(start) || start < 0 || start + n > Tmax) {
    throw new Error(`kvAppend: positions ${start}..${start + n - 1} do not fit a cache of ${Tmax}`);
  }
  const C = NH * HS;
  needF32("kvAppend", "qkv", a.qkv, B * n * 3 * C);
  needF32("kvAppend", "k", a.k, B * NH * Tmax * HS);
  needF32("kvAppend", "v", a.v, B * NH * Tmax * HS);
  if (a.k === a.v) throw new Error("kvAppend: k and v must be different tensors");
  const gpu = enc.gpu;
  if (!gpu) return;
  for (const [name, t] of [["qkv", a.qkv], ["k", a.k], ["v", a.v]] as const) {
    if (t.bytes > gpu.maxBinding) {
      throw new Error(`kvAppend: ${name} ${t} exceeds one storage binding; unsupported`);
    }
  }
  const vec = HS % 4 === 0 ? 4 : 1;
  const count = (B * NH * n * HS) / vec;
  enc.dispatch(
    specOf(vec),
    { qkv: a.qkv, k: a.k, v: a.v },
    { count, n, NH, HSv: HS / vec, Tmax, start },
    groups1d(count, WG),
  );
}

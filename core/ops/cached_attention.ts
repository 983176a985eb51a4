/**
 * Attention of new positions over a KV cache, for incremental decoding: for query t of batch b
 * and head h (its position start + t),
 *   out[b, t, h*HS + d] = sum_j p_j v[b, h, j, d],  p = softmax_j(scale * q . k[b, h, j, :])
 * over keys j in [0, start + t] (causal) or [0, start + n) (every cached key). q is read from the
 * Q third of the fused projection qkv [B, n, 3C] (the layout `splitHeads` reads), the keys and
 * values from the caches k, v [B, NH, Tmax, HS] (`kvAppend` writes them first), and the output is
 * token-major [B, n, C], the layout `mergeHeads` writes: this op is the whole attention core of a
 * decoding step, and scores never exist in memory.
 *
 * One invocation per (b, h, t) row walks the keys in order with an online softmax (running max,
 * rescaled sum and accumulator), so the result is deterministic; q and the accumulator live in
 * private arrays of HS values (vec4 when HS % 4 == 0), one kernel per HS. The work per row is
 * O(start + n), which is what makes each new token cost one position rather than the whole
 * prefix. It is written for decoding (n = 1 after a prefill), not for long prefills on a real GPU,
 * where a row per invocation leaves the device mostly idle.
 * @module
 */
import type { Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needF32 } from "./checks.ts";
import type { KvCallShape } from "./kv_cache.ts";

const WG = 64;
/** Largest head size the private arrays take (GPT-2 XL's is 64; 256 leaves room). */
export const CACHED_ATTENTION_MAX_HS = 256;

/** What `cachedAttention` reads and writes. */
/** n is the number of queries, `start` the first one's position (earlier keys are cached). */
export interface CachedAttentionArgs extends KvCallShape {
  /** [B, n, C] f32 output. */
  out: Tensor;
  /** [B, n, 3C] f32: the new positions' fused projection (only its Q third is read). */
  qkv: Tensor;
  /** [B, NH, Tmax, HS] f32 key cache holding positions 0 .. start + n - 1. */
  k: Tensor;
  /** [B, NH, Tmax, HS] f32 value cache, likewise. */
  v: Tensor;
  /** Multiplies q . k (1 / sqrt(HS)). */
  scale: number;
  /** Query t sees keys up to its own position (GPT-2); otherwise every key in the cache. */
  causal: boolean;
}

function specOf(vec: 1 | 4, HS: number): KernelSpec {
  const HSv = HS / vec;
  const name = `cached_attention_v${vec}_hs${HS}`;
  return cachedSpec(name, () => {
    const type = vec === 4 ? "vec4<f32>" : "f32";
    const zero = vec === 4 ? "vec4f(0.0)" : "0.0";
    const dot = vec === 4 ? "dot(q[d], k[kb + d])" : "q[d] * k[kb + d]";
    return {
      name,
      bindings: [
        { name: "qkv", type },
        { name: "k", type },
        { name: "v", type },
        { name: "out", type, write: true },
      ],
      uniforms: [
        ["rows", "u32"],
        ["n", "u32"],
        ["NH", "u32"],
        ["Tmax", "u32"],
        ["start", "u32"],
        ["causal", "u32"],
        ["scale", "f32"],
      ],
      workgroupSize: [WG],
      body: `${LINEAR_INDEX}
  if (i >= u.rows) { return; }
  let t = i % u.n;
  let bh = i / u.n;
  let h = bh % u.NH;
  let b = bh / u.NH;
  let Cv = u.NH * ${HSv}u;
  let qo = (b * u.n + t) * 3u * Cv + h * ${HSv}u;
  var q: array<${type}, ${HSv}>;
  var acc: array<${type}, ${HSv}>;
  for (var d = 0u; d < ${HSv}u; d++) {
    q[d] = qkv[qo + d];
    acc[d] = ${zero};
  }
  let keys = select(u.start + u.n, u.start + t + 1u, u.causal != 0u);
  var mx = -3.40282347e38;
  var sum = 0.0;
  for (var j = 0u; j < keys; j++) {
    let kb = (bh * u.Tmax + j) * ${HSv}u;
    var s = 0.0;
    for (var d = 0u; d < ${HSv}u; d++) { s += ${dot}; }
    s *= u.scale;
    let m = max(mx, s);
    let old = exp(mx - m);
    let w = exp(s - m);
    sum = sum * old + w;
    for (var d = 0u; d < ${HSv}u; d++) { acc[d] = acc[d] * old + w * v[kb + d]; }
    mx = m;
  }
  let inv = 1.0 / sum;
  let oo = (b * u.n + t) * Cv + h * ${HSv}u;
  for (var d = 0u; d < ${HSv}u; d++) { out[oo + d] = acc[d] * inv; }`,
    };
  });
}

/** Attention of the new positions over the cache (see the module doc). */
export function cachedAttention(enc: Encoder, a: CachedAttentionArgs): void {
  const { B, n, NH, HS, Tmax, start } = a;
  for (const [name, v] of [["B", B], ["n", n], ["NH", NH], ["HS", HS], ["Tmax", Tmax]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`cachedAttention: ${name} must be >= 1, got ${v}`);
    }
  }
  if (HS > CACHED_ATTENTION_MAX_HS) {
    throw new Error(
      `cachedAttention: head size ${HS} exceeds ${CACHED_ATTENTION_MAX_HS}; unsupported`,
    );
  }
  if (!Number.isInteger(start) || start < 0 || start + n > Tmax) {
    throw new Error(
      `cachedAttention: positions ${start}..${start + n - 1} do not fit a cache of ${Tmax}`,
    );
  }
  const C = NH * HS;
  needF32("cachedAttention", "out", a.out, B * n * C);
  needF32("cachedAttention", "qkv", a.qkv, B * n * 3 * C);
  needF32("cachedAttention", "k", a.k, B * NH * Tmax * HS);
  needF32("cachedAttention", "v", a.v, B * NH * Tmax * HS);
  if (new Set([a.out, a.qkv, a.k, a.v]).size !== 4) {
    throw new Error("cachedAttention: aliased operands are unsupported");
  }
  const gpu = enc.gpu;
  if (!gpu) return;
  for (const [name, t] of [["qkv", a.qkv], ["k", a.k], ["v", a.v], ["out", a.out]] as const) {
    if (t.bytes > gpu.maxBinding) {
      throw new Error(`cachedAttention: ${name} ${t} exceeds one storage binding; unsupported`);
    }
  }
  const vec = HS % 4 === 0 ? 4 : 1;
  const rows = B * NH * n;
  enc.dispatch(
    specOf(vec, HS),
    { qkv: a.qkv, k: a.k, v: a.v, out: a.out },
    { rows, n, NH, Tmax, start, causal: a.causal ? 1 : 0, scale: a.scale },
    groups1d(rows, WG),
  );
}

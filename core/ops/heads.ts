/**
 * Attention head layouts. Token-major [B, T, W] (W = 3C for the fused QKV projection, whose 3C
 * columns are [Q | K | V], each NH*HS head-major; W = C for the context) <-> head-major
 * [B, NH, T, HS] (C = NH * HS). Pure permutations (exact copies), vec4 when HS % 4 == 0.
 * Operands larger than one storage binding are split into chunks of whole batch elements.
 * @module
 */
import type { Bindable, Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";
import { needF32 } from "./checks.ts";

const WG = 64;
const cache = new Map<string, KernelSpec>();

/**
 * The kernel: `parts` head-major tensors h0.. <-> one token-major tensor `tok` whose row holds the
 * parts side by side; `toHeads` picks the direction; `vec` the element type width (1 or 4).
 */
function specOf(parts: 1 | 3, toHeads: boolean, vec: 1 | 4): KernelSpec {
  const key = `${parts}|${toHeads}|${vec}`;
  let s = cache.get(key);
  if (s) return s;
  const type = vec === 4 ? "vec4<f32>" : "f32";
  const heads = Array.from({ length: parts }, (_, p) => `h${p}`);
  const copies = heads.map((h, p) => {
    const at = p === 0 ? "o" : `o + ${p}u * u.Cv`;
    return toHeads ? `${h}[i] = tok[${at}];` : `tok[${at}] = ${h}[i];`;
  });
  s = {
    name: `heads_${toHeads ? "split" : "join"}${parts}_v${vec}`,
    bindings: [
      { name: "tok", type, write: !toHeads },
      ...heads.map((name) => ({ name, type, write: toHeads } as const)),
    ],
    uniforms: [["n", "u32"], ["T", "u32"], ["NH", "u32"], ["HSv", "u32"], ["Cv", "u32"]],
    workgroupSize: [WG],
    body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  let d = i % u.HSv;
  let r = i / u.HSv;
  let t = r % u.T;
  let bh = r / u.T;
  let h = bh % u.NH;
  let b = bh / u.NH;
  let o = (b * u.T + t) * (${parts}u * u.Cv) + h * u.HSv + d;
  ${copies.join("\n  ")}`,
  };
  cache.set(key, s);
  return s;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Run a permutation over batch chunks. */
function run(
  op: string,
  enc: Encoder,
  tok: Tensor,
  heads: Tensor[],
  toHeads: boolean,
  B: number,
  T: number,
  NH: number,
  HS: number,
  maxBindingBytes?: number,
): void {
  const C = NH * HS, parts = heads.length as 1 | 3;
  needF32(op, "token-major operand", tok, B * T * parts * C);
  heads.forEach((h, p) => needF32(op, `head-major operand ${p}`, h, B * T * C));
  const all = [tok, ...heads];
  if (new Set(all).size !== all.length) throw new Error(`${op}: aliased operands are unsupported`);
  const gpu = enc.gpu;
  if (!gpu || B * T * C === 0) return;
  const vec = HS % 4 === 0 ? 4 : 1;
  const spec = specOf(parts, toHeads, vec);
  const maxBytes = Math.min(maxBindingBytes ?? gpu.maxBinding, gpu.maxBinding);
  const tokBatch = 4 * T * parts * C, headBatch = 4 * T * C;
  let per = B;
  if (B * tokBatch > maxBytes) {
    const unit = gpu.storageAlign / gcd(headBatch, gpu.storageAlign);
    per = Math.floor(maxBytes / tokBatch / unit) * unit;
    if (per < 1) {
      throw new Error(
        `${op}: ${unit} batch elements of [T=${T}, ${parts * C}] do not fit a binding of ` +
          `${maxBytes} bytes; unsupported`,
      );
    }
  }
  for (let b0 = 0; b0 < B; b0 += per) {
    const nb = Math.min(per, B - b0), whole = nb === B;
    const range = (t: Tensor, bytes: number): Bindable =>
      whole ? t : { tensor: t, offset: b0 * bytes, size: nb * bytes };
    const bindings: Record<string, Bindable> = { tok: range(tok, tokBatch) };
    heads.forEach((h, p) => bindings[`h${p}`] = range(h, headBatch));
    const n = (nb * T * C) / vec;
    enc.dispatch(spec, bindings, { n, T, NH, HSv: HS / vec, Cv: C / vec }, groups1d(n, WG));
  }
}

/**
 * Split the fused QKV projection into heads.
 * @param q [B, NH, T, HS] f32 output
 * @param k [B, NH, T, HS] f32 output
 * @param v [B, NH, T, HS] f32 output
 * @param qkv [B, T, 3C] f32 input, columns [Q | K | V], each NH*HS head-major
 * @param maxBindingBytes largest binding (default gpu.maxBinding); tests lower it to force chunks
 */
export function splitHeads(
  enc: Encoder,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  qkv: Tensor,
  B: number,
  T: number,
  NH: number,
  HS: number,
  maxBindingBytes?: number,
): void {
  run("splitHeads", enc, qkv, [q, k, v], true, B, T, NH, HS, maxBindingBytes);
}

/**
 * The inverse of `splitHeads` (its backward): head-major gradients into the fused layout.
 * @param dqkv [B, T, 3C] f32 output
 * @param dq [B, NH, T, HS] f32 input
 * @param dk [B, NH, T, HS] f32 input
 * @param dv [B, NH, T, HS] f32 input
 * @param maxBindingBytes largest binding (default gpu.maxBinding); tests lower it to force chunks
 */
export function joinHeads(
  enc: Encoder,
  dqkv: Tensor,
  dq: Tensor,
  dk: Tensor,
  dv: Tensor,
  B: number,
  T: number,
  NH: number,
  HS: number,
  maxBindingBytes?: number,
): void {
  run("joinHeads", enc, dqkv, [dq, dk, dv], false, B, T, NH, HS, maxBindingBytes);
}

/**
 * Merge the per-head context into tokens: out[b, t, h*HS + d] = ctx[b, h, t, d].
 * @param out [B, T, C] f32 output
 * @param ctx [B, NH, T, HS] f32 input
 * @param maxBindingBytes largest binding (default gpu.maxBinding); tests lower it to force chunks
 */
export function mergeHeads(
  enc: Encoder,
  out: Tensor,
  ctx: Tensor,
  B: number,
  T: number,
  NH: number,
  HS: number,
  maxBindingBytes?: number,
): void {
  run("mergeHeads", enc, out, [ctx], false, B, T, NH, HS, maxBindingBytes);
}

/**
 * The inverse of `mergeHeads` (its backward): dctx[b, h, t, d] = dout[b, t, h*HS + d].
 * @param dctx [B, NH, T, HS] f32 output
 * @param dout [B, T, C] f32 input
 * @param maxBindingBytes largest binding (default gpu.maxBinding); tests lower it to force chunks
 */
export function splitHeadsOf(
  enc: Encoder,
  dctx: Tensor,
  dout: Tensor,
  B: number,
  T: number,
  NH: number,
  HS: number,
  maxBindingBytes?: number,
): void {
  run("splitHeadsOf", enc, dout, [dctx], true, B, T, NH, HS, maxBindingBytes);
}

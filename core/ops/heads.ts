/**
 * Attention head layouts. Token-major [B, T, W] (W = 3C for the fused QKV projection, whose 3C
 * columns are [Q | K | V], each NH*HS head-major; W = C for the context) <-> head-major
 * [B, NH, T, HS] (C = NH * HS). Pure permutations (exact copies), vec4 when HS % 4 == 0.
 * Operands larger than one storage binding are split into chunks of whole batch elements.
 * @module
 */
import type { Bindable, Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needF32 } from "./checks.ts";
import { alignedItems, type ChunkOptions, spanRange, spans } from "./chunking.ts";

const WG = 64;

/** The attention shape of a head layout op. */
export interface HeadShape extends ChunkOptions {
  /** Batch. */
  B: number;
  /** Sequence length. */
  T: number;
  /** Heads. */
  NH: number;
  /** Head size (C = NH * HS). */
  HS: number;
}

/**
 * The kernel: `parts` head-major tensors h0.. <-> one token-major tensor `tok` whose row holds the
 * parts side by side; `toHeads` picks the direction; `vec` the element type width (1 or 4).
 */
function specOf(parts: 1 | 3, toHeads: boolean, vec: 1 | 4): KernelSpec {
  const name = `heads_${toHeads ? "split" : "join"}${parts}_v${vec}`;
  return cachedSpec(name, () => makeSpec(name, parts, toHeads, vec));
}

function makeSpec(name: string, parts: 1 | 3, toHeads: boolean, vec: 1 | 4): KernelSpec {
  const type = vec === 4 ? "vec4<f32>" : "f32";
  const heads = Array.from({ length: parts }, (_, p) => `h${p}`);
  const copies = heads.map((h, p) => {
    const at = p === 0 ? "o" : `o + ${p}u * u.Cv`;
    return toHeads ? `${h}[i] = tok[${at}];` : `tok[${at}] = ${h}[i];`;
  });
  return {
    name,
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
}

/** Run a permutation over batch chunks. */
function run(
  op: string,
  enc: Encoder,
  tok: Tensor,
  heads: Tensor[],
  toHeads: boolean,
  shape: HeadShape,
): void {
  const { B, T, NH, HS } = shape;
  const C = NH * HS, parts = heads.length as 1 | 3;
  needF32(op, "token-major operand", tok, B * T * parts * C);
  heads.forEach((h, p) => needF32(op, `head-major operand ${p}`, h, B * T * C));
  const all = [tok, ...heads];
  if (new Set(all).size !== all.length) throw new Error(`${op}: aliased operands are unsupported`);
  const gpu = enc.gpu;
  if (!gpu || B * T * C === 0) return;
  const vec = HS % 4 === 0 ? 4 : 1;
  const spec = specOf(parts, toHeads, vec);
  // Chunks of whole batch items; the token-major operand is the widest (parts x the head-major).
  const tokBatch = 4 * T * parts * C, headBatch = 4 * T * C;
  for (
    const sp of spans(op, gpu, {
      count: B,
      itemBytes: tokBatch,
      unit: alignedItems(gpu, headBatch),
      what: `batch items of [T=${T}, ${parts * C}]`,
      maxBindingBytes: shape.maxBindingBytes,
    })
  ) {
    const bindings: Record<string, Bindable> = { tok: spanRange(tok, sp, tokBatch) };
    heads.forEach((h, p) => bindings[`h${p}`] = spanRange(h, sp, headBatch));
    const n = (sp.count * T * C) / vec;
    enc.dispatch(spec, bindings, { n, T, NH, HSv: HS / vec, Cv: C / vec }, groups1d(n, WG));
  }
}

/** What `splitHeads` reads and writes. */
export interface SplitHeadsArgs extends HeadShape {
  /** [B, NH, T, HS] f32 output. */
  q: Tensor;
  /** [B, NH, T, HS] f32 output. */
  k: Tensor;
  /** [B, NH, T, HS] f32 output. */
  v: Tensor;
  /** [B, T, 3C] f32 input, columns [Q | K | V], each NH*HS head-major. */
  qkv: Tensor;
}

/** Split the fused QKV projection into heads. */
export function splitHeads(enc: Encoder, a: SplitHeadsArgs): void {
  run("splitHeads", enc, a.qkv, [a.q, a.k, a.v], true, a);
}

/** What `joinHeads` reads and writes. */
export interface JoinHeadsArgs extends HeadShape {
  /** [B, T, 3C] f32 output. */
  dqkv: Tensor;
  /** [B, NH, T, HS] f32 input. */
  dq: Tensor;
  /** [B, NH, T, HS] f32 input. */
  dk: Tensor;
  /** [B, NH, T, HS] f32 input. */
  dv: Tensor;
}

/** The inverse of `splitHeads` (its backward): head-major gradients into the fused layout. */
export function joinHeads(enc: Encoder, a: JoinHeadsArgs): void {
  run("joinHeads", enc, a.dqkv, [a.dq, a.dk, a.dv], false, a);
}

/** What `mergeHeads` reads and writes. */
export interface MergeHeadsArgs extends HeadShape {
  /** [B, T, C] f32 output. */
  out: Tensor;
  /** [B, NH, T, HS] f32 input. */
  ctx: Tensor;
}

/** Merge the per-head context into tokens: out[b, t, h*HS + d] = ctx[b, h, t, d]. */
export function mergeHeads(enc: Encoder, a: MergeHeadsArgs): void {
  run("mergeHeads", enc, a.out, [a.ctx], false, a);
}

/** What `splitHeadsOf` reads and writes. */
export interface SplitHeadsOfArgs extends HeadShape {
  /** [B, NH, T, HS] f32 output. */
  dctx: Tensor;
  /** [B, T, C] f32 input. */
  dout: Tensor;
}

/** The inverse of `mergeHeads` (its backward): dctx[b, h, t, d] = dout[b, t, h*HS + d]. */
export function splitHeadsOf(enc: Encoder, a: SplitHeadsOfArgs): void {
  run("splitHeadsOf", enc, a.dout, [a.dctx], true, a);
}

/**
 * Attention head layouts. Token-major [B, T, W] (W = 3C for the fused QKV projection, whose 3C
 * columns are [Q | K | V], each NH*HS head-major; W = C for the context) <-> head-major
 * [B, NH, T, HS] (C = NH * HS). Pure permutations (exact copies), vec4 when HS % 4 == 0.
 * Operands larger than one storage binding are split into chunks of whole batch elements.
 * Operands are f32, f16 or bf16 (the head-major ones share one); between equal dtypes the copy
 * is exact (values go through f32, which holds every f16 and bf16 value; NaN payloads may
 * change), between others it is a conversion. A 16-bit output needs an even HS: each invocation
 * copies a pair (or a vec4), so that it writes whole u32 words.
 * @module
 */
import { elementBytes, type FloatDType } from "../dtype.ts";
import type { Bindable, Encoder } from "../encoder.ts";
import { DTypeError } from "../errors.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needFloat } from "./checks.ts";
import { alignedItemsOf, type ChunkOptions, spanOf, spans } from "./chunking.ts";
import { anyHalf, dtypeSuffix } from "./half_kernels.ts";

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
 * parts side by side; `toHeads` picks the direction; `vec` the elements one invocation copies (1,
 * a pair: 16-bit operands with HS even, or a vec4: HS % 4 == 0); `tok`, `heads` the dtypes.
 */
function specOf(
  parts: 1 | 3,
  toHeads: boolean,
  vec: 1 | 2 | 4,
  tok: FloatDType,
  heads: FloatDType,
): KernelSpec {
  const name = `heads_${toHeads ? "split" : "join"}${parts}_v${vec}${
    dtypeSuffix({ tok, h: heads })
  }`;
  return cachedSpec(name, () => makeSpec(name, parts, toHeads, vec, tok, heads));
}

function makeSpec(
  name: string,
  parts: 1 | 3,
  toHeads: boolean,
  vec: 1 | 2 | 4,
  tok: FloatDType,
  dh: FloatDType,
): KernelSpec {
  const heads = Array.from({ length: parts }, (_, p) => `h${p}`);
  const [load, store] = vec === 1 ? ["load", "store"] : [`load${vec}`, `store${vec}`];
  const copies = heads.map((h, p) => {
    const at = p === 0 ? "o" : `o + ${p}u * u.Cv`;
    return toHeads
      ? `${h}_${store}(i, tok_${load}(${at}));`
      : `tok_${store}(${at}, ${h}_${load}(i));`;
  });
  const width = vec === 4 ? 4 : 1;
  return {
    name,
    bindings: [
      { name: "tok", dtype: tok, width, write: !toHeads },
      ...heads.map((name) => ({ name, dtype: dh, width, write: toHeads } as const)),
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
  const dTok = needFloat(op, "token-major operand", tok, B * T * parts * C, enc.gpu);
  const dHeads = heads.map((h, p) =>
    needFloat(op, `head-major operand ${p}`, h, B * T * C, enc.gpu)
  );
  if (dHeads.some((d) => d !== dHeads[0])) {
    throw new DTypeError(
      `${op}: the head-major operands must share a dtype, got ${heads.join(", ")}`,
    );
  }
  const all = [tok, ...heads];
  if (new Set(all).size !== all.length) throw new Error(`${op}: aliased operands are unsupported`);
  const half = anyHalf(dTok, dHeads[0]);
  const written = toHeads ? heads[0] : tok;
  if (HS % 2 === 1 && written.dtype !== "f32") {
    throw new DTypeError(
      `${op}: a 16-bit output needs an even head size (rows of HS = ${HS} share u32 words), got ` +
        `${written}; use an even HS or f32`,
    );
  }
  const gpu = enc.gpu;
  if (!gpu || B * T * C === 0) return;
  const vec = HS % 4 === 0 ? 4 : half && HS % 2 === 0 ? 2 : 1;
  const spec = specOf(parts, toHeads, vec, dTok, dHeads[0]);
  // Chunks of whole batch items; each operand's batch item starts aligned.
  const tokItem = T * parts * C, headItem = T * C;
  const tokBatch = elementBytes(dTok) * tokItem, headBatch = elementBytes(dHeads[0]) * headItem;
  for (
    const sp of spans(op, gpu, {
      count: B,
      itemBytes: Math.max(tokBatch, headBatch),
      unit: alignedItemsOf(gpu, [headBatch, tokBatch]),
      what: `batch items of [T=${T}, ${parts * C}]`,
      maxBindingBytes: shape.maxBindingBytes,
    })
  ) {
    const bindings: Record<string, Bindable> = { tok: spanOf(tok, sp, tokItem) };
    heads.forEach((h, p) => bindings[`h${p}`] = spanOf(h, sp, headItem));
    const n = (sp.count * T * C) / vec;
    enc.dispatch(spec, bindings, { n, T, NH, HSv: HS / vec, Cv: C / vec }, groups1d(n, WG));
  }
}

/** What `splitHeads` reads and writes. */
export interface SplitHeadsArgs extends HeadShape {
  /** [B, NH, T, HS] output (f32, f16 or bf16). */
  q: Tensor;
  /** [B, NH, T, HS] output (f32, f16 or bf16). */
  k: Tensor;
  /** [B, NH, T, HS] output (f32, f16 or bf16). */
  v: Tensor;
  /** [B, T, 3C] input (f32, f16 or bf16), columns [Q | K | V], each NH*HS head-major. */
  qkv: Tensor;
}

/** Split the fused QKV projection into heads. */
export function splitHeads(enc: Encoder, a: SplitHeadsArgs): void {
  run("splitHeads", enc, a.qkv, [a.q, a.k, a.v], true, a);
}

/** What `joinHeads` reads and writes. */
export interface JoinHeadsArgs extends HeadShape {
  /** [B, T, 3C] output (f32, f16 or bf16). */
  dqkv: Tensor;
  /** [B, NH, T, HS] input (f32, f16 or bf16). */
  dq: Tensor;
  /** [B, NH, T, HS] input (f32, f16 or bf16). */
  dk: Tensor;
  /** [B, NH, T, HS] input (f32, f16 or bf16). */
  dv: Tensor;
}

/** The inverse of `splitHeads` (its backward): head-major gradients into the fused layout. */
export function joinHeads(enc: Encoder, a: JoinHeadsArgs): void {
  run("joinHeads", enc, a.dqkv, [a.dq, a.dk, a.dv], false, a);
}

/** What `mergeHeads` reads and writes. */
export interface MergeHeadsArgs extends HeadShape {
  /** [B, T, C] output (f32, f16 or bf16). */
  out: Tensor;
  /** [B, NH, T, HS] input (f32, f16 or bf16). */
  ctx: Tensor;
}

/** Merge the per-head context into tokens: out[b, t, h*HS + d] = ctx[b, h, t, d]. */
export function mergeHeads(enc: Encoder, a: MergeHeadsArgs): void {
  run("mergeHeads", enc, a.out, [a.ctx], false, a);
}

/** What `splitHeadsOf` reads and writes. */
export interface SplitHeadsOfArgs extends HeadShape {
  /** [B, NH, T, HS] output (f32, f16 or bf16). */
  dctx: Tensor;
  /** [B, T, C] input (f32, f16 or bf16). */
  dout: Tensor;
}

/** The inverse of `mergeHeads` (its backward): dctx[b, h, t, d] = dout[b, t, h*HS + d]. */
export function splitHeadsOf(enc: Encoder, a: SplitHeadsOfArgs): void {
  run("splitHeadsOf", enc, a.dout, [a.dctx], true, a);
}

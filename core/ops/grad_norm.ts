/**
 * Global gradient L2 norm over a list of tensors, and the clip factor, without a host sync.
 * Pass 1: each workgroup sums the squares of a fixed block of ELEMS_PER_GROUP elements of one
 * tensor into PARTIALS_PER_GROUP scratch slots: one partial per invocation (kernel `partials`,
 * the software adapter's), or the workgroup's sum in the block's first slot (`workgroup`: a tree
 * in workgroup memory; `subgroup`: subgroupAdd), which the finish then reads with a stride of
 * PARTIALS_PER_GROUP. Pass 2: one workgroup sums the partials in a fixed order (tree or
 * subgroups, as pass 1). The kernel policy's `gradNorm` picks the variant; the scratch is the same
 * size for all three.
 * Both passes are fixed-order (strided, then tree), so the result is deterministic. Blocks never
 * straddle a binding chunk (chunks are whole blocks), so the scratch size depends only on the sizes.
 * Clipping is PyTorch's clip_grad_norm_: factor = min(1, maxNorm / (norm + 1e-6)).
 * The gradients, the scratch and the result are f32 by design (parameter gradients stay f32 in
 * mixed precision; the sum of squares needs f32's range); other dtypes are refused by name.
 * @module
 */
import type { Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec } from "../kernel.ts";
import type { GradNormKernel } from "../kernel_policy.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needF32 } from "./checks.ts";
import { type ChunkOptions, chunksOf } from "./chunking.ts";
import { widenTo16 } from "./rows.ts";
import { subgroupReduceWgsl } from "./row_reduce_subgroup.ts";

const WG = 64;
const PER_THREAD = 256;
/** Elements each workgroup of the first pass reduces (to one partial per invocation). */
export const ELEMS_PER_GROUP = WG * PER_THREAD;
/** Partial sums the first pass writes per block of ELEMS_PER_GROUP elements. */
export const PARTIALS_PER_GROUP = WG;

function partialsOf(t: Tensor): number {
  return Math.ceil(t.size / ELEMS_PER_GROUP) * PARTIALS_PER_GROUP;
}

/**
 * Bytes of the f32 scratch `globalGradNorm` needs for these tensors: PARTIALS_PER_GROUP partials
 * per started block of ELEMS_PER_GROUP elements of each tensor (1/256 of the gradients' bytes).
 */
export function gradNormScratchBytes(tensors: readonly Tensor[]): number {
  let p = 0;
  for (const t of tensors) p += partialsOf(t);
  return 4 * p;
}

const TREE = `for (var h = WG_X / 2u; h > 0u; h >>= 1u) {
    if (lidx < h) { red[lidx] += red[lidx + h]; }
    workgroupBarrier();
  }`;

/** WGSL `fn wg_sum(v: f32, lidx: u32) -> f32` of a reducing variant (every invocation gets it). */
function reduceWgsl(kernel: GradNormKernel, wg: number): string {
  if (kernel === "subgroup") return subgroupReduceWgsl("wg_sum", "f32", "add");
  return `var<workgroup> red: array<f32, ${wg}>;
fn wg_sum(v: f32, lidx: u32) -> f32 {
  red[lidx] = v;
  workgroupBarrier();
  ${TREE}
  let total = red[0];
  workgroupBarrier();
  return total;
}`;
}

// `partials`: no workgroup memory and no barrier: each invocation writes its own partial. (A tree
// reduction per workgroup costs a coroutine switch per SIMD group per barrier on llvmpipe: 208 ms
// of a bert-base-shaped step against ~40 ms for this.) The others write one sum per workgroup.
function sumSquaresSpec(kernel: GradNormKernel): KernelSpec {
  const name = `grad_norm_partials${kernel === "partials" ? "" : `_${kernel}`}`;
  return cachedSpec(name, () => ({
    name,
    bindings: [{ name: "x", type: "vec4<f32>" }, { name: "partials", type: "f32", write: true }],
    uniforms: [["n", "u32"], ["base4", "u32"], ["groups", "u32"], ["p0", "u32"]],
    workgroupSize: [WG],
    subgroups: kernel === "subgroup",
    prelude: kernel === "partials" ? undefined : reduceWgsl(kernel, WG),
    // A reducing variant's workgroup stays whole past u.groups (the reductions need uniform
    // control flow); its extra invocations add nothing and write nothing.
    body: `let g = wid.x + wid.y * nwg.x;
  ${kernel === "partials" ? "if (g >= u.groups) { return; }" : ""}
  // n elements = full vec4s, then a partial one whose lanes past n are dropped (select, so that
  // whatever lies past the tensor, even NaN, cannot leak in).
  let nv = (u.n + 3u) / 4u;
  let rem = u.n % 4u;
  var s = 0.0;
  for (var k = 0u; k < ${PER_THREAD / 4}u; k++) {
    let j = (g * ${PER_THREAD / 4}u + k) * WG_X + lidx;
    if (g < u.groups && j < nv) {
      var a = x[u.base4 + j];
      if (j == nv - 1u && rem != 0u) { a = select(vec4<f32>(), a, vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(rem)); }
      s += dot(a, a);
    }
  }
  ${
      kernel === "partials"
        ? "partials[u.p0 + g * WG_X + lidx] = s;"
        : `let total = wg_sum(s, lidx);
  if (lidx == 0u && g < u.groups) { partials[u.p0 + g * WG_X] = total; }`
    }`,
  }));
}

const FINISH_WG = 256;

/** The bit of the overflow word that `globalGradNorm` sets on a non-finite gradient. */
export const OVERFLOW_BIT = 2;

/**
 * The finish: the sum of `count` partials at a stride of `stride` slots, then the norm and the
 * clip factor. Scaled (a loss-scaled run): the partials hold the squares of gradients scaled by
 * the loss scale S, so the norm and the clip factor are multiplied by 1/S (a power of two: exact),
 * and a non-finite sum (an Inf or NaN gradient) sets bit 1 (value 2) of `overflow[0]`, which is
 * never cleared here: a step that overflowed keeps every later step skipped until the host clears
 * it.
 */
function finishSpec(kernel: GradNormKernel, scaled: boolean): KernelSpec {
  const name = `grad_norm_finish${scaled ? "_scaled" : ""}${
    kernel === "partials" ? "" : `_${kernel}`
  }`;
  return cachedSpec(name, () => ({
    name,
    bindings: [
      { name: "partials", type: "f32" },
      { name: "out", type: "f32", write: true },
      ...(scaled ? [{ name: "overflow", type: "u32", write: true } as const] : []),
    ],
    uniforms: [
      ["count", "u32"],
      ["stride", "u32"],
      ["maxNorm", "f32"],
      ...(scaled ? [["unscale", "f32"] as ["unscale", "f32"]] : []),
    ],
    workgroupSize: [FINISH_WG],
    subgroups: kernel === "subgroup",
    prelude: reduceWgsl(kernel === "subgroup" ? "subgroup" : "workgroup", FINISH_WG),
    body: `var s = 0.0;
  for (var i = lidx; i < u.count; i += WG_X) { s += partials[i * u.stride]; }
  let sum = wg_sum(s, lidx);
  if (lidx == 0u) {
    ${
      scaled
        ? `// Inf and NaN have all exponent bits set (a bit test: compilers may assume no NaN).
    if ((bitcast<u32>(sum) & 0x7f800000u) == 0x7f800000u) { overflow[0] = overflow[0] | ${OVERFLOW_BIT}u; }
    let norm = sqrt(sum) * u.unscale;
    out[0] = norm;
    out[1] = select(1.0, min(1.0, u.maxNorm / (norm + 1e-6)), u.maxNorm > 0.0) * u.unscale;`
        : `let norm = sqrt(sum);
    out[0] = norm;
    out[1] = select(1.0, min(1.0, u.maxNorm / (norm + 1e-6)), u.maxNorm > 0.0);`
    }
  }`,
  }));
}

/** What `globalGradNorm` reads and writes. */
export interface GradNormArgs extends ChunkOptions {
  /** [2] f32 output: the norm and the clip factor. */
  out: Tensor;
  /** f32, at least `gradNormScratchBytes(grads)` bytes. */
  scratch: Tensor;
  /** The gradient tensors, f32, any shapes. */
  grads: readonly Tensor[];
  /** Clip threshold; <= 0 or not finite: no clipping (factor 1). */
  maxNorm: number;
  /**
   * Loss scaling: the gradients are scaled by `scale` (a power of two); the norm and the clip
   * factor are those of the unscaled gradients, and an Inf or NaN among them ORs OVERFLOW_BIT
   * into `overflow[0]` (u32).
   */
  scaled?: { scale: number; overflow: Tensor };
}

/**
 * out[0] = sqrt(sum over all tensors of sum of squares); out[1] = clip factor
 * min(1, maxNorm / (norm + 1e-6)), or 1 when maxNorm <= 0 or is not finite (no clipping).
 * Pass `out` as adamw's gradScale: adamw reads its last element (the clip factor) by default.
 */
export function globalGradNorm(enc: Encoder, a: GradNormArgs): void {
  const { out, scratch, grads, maxNorm, maxBindingBytes } = a;
  const op = "globalGradNorm";
  needF32(op, "out", out, 2);
  const total = gradNormScratchBytes(grads) / 4;
  needF32(op, "scratch", scratch, total);
  grads.forEach((t, i) => needF32(op, `grads[${i}]`, t, 0));
  if (a.scaled) {
    const { scale, overflow } = a.scaled;
    if (!(scale > 0 && Number.isFinite(scale) && 2 ** Math.round(Math.log2(scale)) === scale)) {
      throw new Error(`${op}: the loss scale must be a power of two, got ${scale}`);
    }
    if (overflow.dtype !== "u32" || overflow.size < 1) {
      throw new Error(`${op}: overflow must be a u32 tensor of at least 1 word, got ${overflow}`);
    }
  }
  const gpu = enc.gpu;
  if (!gpu) return;
  if (4 * total > gpu.maxBinding) throw new Error(`${op}: ${total} partials exceed one binding`);
  const kernel = gpu.kernels.gradNorm;
  const sumSquares = sumSquaresSpec(kernel);
  let p0 = 0;
  for (const t of grads) {
    if (t.size === 0) continue;
    for (const ch of chunksOf(gpu, t, t.size, ELEMS_PER_GROUP, maxBindingBytes)) {
      const n = Math.min(ch.count * ELEMS_PER_GROUP, t.size - ch.first * ELEMS_PER_GROUP);
      enc.dispatch(sumSquares, { x: widenTo16(ch.range), partials: scratch }, {
        n,
        base4: ch.base / 4,
        groups: ch.count,
        p0: p0 + ch.first * PARTIALS_PER_GROUP,
      }, groups1d(ch.count, 1));
    }
    p0 += partialsOf(t);
  }
  const clip = Number.isFinite(maxNorm) && maxNorm > 0 ? maxNorm : 0;
  // A reducing first pass leaves one sum per block, in the block's first slot.
  const stride = kernel === "partials" ? 1 : PARTIALS_PER_GROUP;
  const count = total / stride;
  const sc = a.scaled;
  if (!sc) {
    enc.dispatch(finishSpec(kernel, false), { partials: scratch, out }, {
      count,
      stride,
      maxNorm: clip,
    }, [1, 1, 1]);
    return;
  }
  enc.dispatch(finishSpec(kernel, true), { partials: scratch, out, overflow: sc.overflow }, {
    count,
    stride,
    maxNorm: clip,
    unscale: 1 / sc.scale,
  }, [1, 1, 1]);
}

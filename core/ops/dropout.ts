/**
 * Dropout with a counter-based mask: forward y = keep ? x / (1 - p) : 0, optionally storing the
 * keep mask packed as bytes ("u8", 4 per u32 word, byte k of word w = element 4w + k) or bits
 * ("bit", 32 per word, bit k of word w = element 32w + k); backward reads the stored mask or
 * regenerates it from (seed, stream) with the same Philox decision (`rng.ts`), bit-exactly.
 * Element e of a call is element `offset + e` of the RNG stream (`offset` = 0 by default): data-
 * parallel ranks and micro-batches pass their first sample's place in the step's global batch,
 * so that a sample gets the same mask however the batch is split (core/step.ts `dropoutOffset`).
 * Mask bits past element n - 1 in the last word are 0. One invocation per mask word (no atomics).
 * Flat shapes: n elements (e.g. N*C activations or B*NH*T*T attention probabilities).
 * x, y (dx, dy) are f32, f16 or bf16, each its own; the mask and its RNG coordinates do not
 * depend on them. A 16-bit operand makes each invocation take its elements in pairs.
 * @module
 */
import type { Bindable, Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { bytesOf, type FloatDType } from "../dtype.ts";
import { DROPOUT_KEEP_WGSL, keepThreshold } from "./rng.ts";
import { needFloat, needMask } from "./checks.ts";
import { type ChunkOptions, spanOf, spans, widestElement } from "./chunking.ts";
import { anyHalf, dtypeSuffix, store2nWgsl } from "./half_kernels.ts";

/** How a keep mask is packed into u32 words. */
export type MaskDtype = "u8" | "bit";

/** Where backward gets the keep decisions: a stored mask, or the forward's RNG coordinates. */
export type DropoutSource = { mask: Tensor; maskDtype: MaskDtype } | {
  seed: number;
  stream: number;
  /** The forward's element offset into the stream (default 0). */
  offset?: number;
};

const WG = 64;
type Src = "rng" | MaskDtype;
type Dst = "none" | MaskDtype;

/**
 * WGSL: keep decision of element e0 + k of this dispatch from its Philox group `k4`, which is
 * drawn at the invocation's first element (k = 0) and at each group start; elements are visited
 * in order. Stream element = offset + base + e0 + k, carried into off_hi past 2^32.
 */
const KEEP_AT_WGSL = `
fn keep_at(k: u32, e0: u32, k4: ptr<function, vec4<bool>>) -> bool {
  let e = u.base + e0 + k;
  let g_lo = u.off_lo + e;
  if (k == 0u || (g_lo & 3u) == 0u) {
    let g_hi = u.off_hi + select(0u, 1u, g_lo < e);
    *k4 = dropout_keep4_at((g_lo >> 2u) | (g_hi << 30u), g_hi >> 2u, u.stream, u.seed, u.threshold);
  }
  return (*k4)[g_lo & 3u];
}
`;

/** Elements per invocation (= per mask word) of the kernel for a keep source and mask output. */
function perWord(src: Src, dst: Dst): number {
  return src === "bit" || dst === "bit" ? 32 : 4;
}

/** Float dtypes of a dropout kernel's operands: x (absent in place) and y. */
type Dtypes = { x?: FloatDType; y: FloatDType };

/**
 * The kernel for a keep source, an optional mask output, in-place (x aliased to y) and the
 * operands' dtypes.
 */
function specOf(src: Src, dst: Dst, d: Dtypes): KernelSpec {
  const inPlace = d.x === undefined;
  const ds: Record<string, FloatDType> = d.x === undefined ? { y: d.y } : { x: d.x, y: d.y };
  const name = `dropout_${src}_${dst}${inPlace ? "_inplace" : ""}${dtypeSuffix(ds)}`;
  return cachedSpec(name, () => makeSpec(name, src, dst, d));
}

function makeSpec(name: string, src: Src, dst: Dst, d: Dtypes): KernelSpec {
  const g = perWord(src, dst);
  const inPlace = d.x === undefined;
  const pairs = anyHalf(d.y, d.x ?? "f32");
  const bindings: KernelSpec["bindings"][number][] = [];
  if (d.x !== undefined) bindings.push({ name: "x", dtype: d.x });
  bindings.push({ name: "y", dtype: d.y, write: true });
  if (src !== "rng") bindings.push({ name: "mask", type: "u32" });
  if (dst !== "none") bindings.push({ name: "mask", type: "u32", write: true });
  const X = inPlace ? "y" : "x";
  // RNG: one Philox call per 4 stream elements. Element e is stream element O + base + e, with the
  // offset O = off_hi * 2^32 + off_lo (any alignment); its 4-element group is drawn at the
  // first element and at each group start.
  const keepOf = (k: string) => {
    if (src === "u8") return `((bits >> (8u * ${k})) & 0xffu) != 0u`;
    if (src === "bit") return `((bits >> ${k}) & 1u) != 0u`;
    return `keep_at(${k}, e0, &k4)`;
  };
  const shift = (k: string) => (dst === "u8" ? `8u * ${k}` : k);
  // f32: one element per step; 16-bit: a pair per step (k even), the second past cnt unused.
  const loop = pairs
    ? `for (var k = 0u; k < cnt; k += 2u) {
    let e = e0 + k;
    let keep_a = ${keepOf("k")};
    let keep_b = k + 1u < cnt && ${keepOf("(k + 1u)")};
    let keep = vec2<bool>(keep_a, keep_b);
    y_store2n(e / 2u, select(vec2f(0.0), ${X}_load2(e / 2u) * u.scale, keep), u.n);
    ${
      dst === "none" ? "" : `packed |= (select(0u, 1u, keep.x) << (${shift("k")})) | ` +
        `(select(0u, 1u, keep.y) << (${shift("(k + 1u)")}));`
    }
  }`
    : `for (var k = 0u; k < cnt; k++) {
    let e = e0 + k;
    let keep = ${keepOf("k")};
    y_store(e, select(0.0, ${X}_load(e) * u.scale, keep));
    ${dst === "none" ? "" : `packed |= select(0u, 1u, keep) << (${shift("k")});`}
  }`;
  return {
    name,
    bindings,
    uniforms: [
      ["n", "u32"],
      ["base", "u32"],
      ["seed", "u32"],
      ["stream", "u32"],
      ["threshold", "u32"],
      ["scale", "f32"],
      ["off_lo", "u32"],
      ["off_hi", "u32"],
    ],
    workgroupSize: [WG],
    prelude: (src === "rng" ? DROPOUT_KEEP_WGSL + KEEP_AT_WGSL : "") +
      (pairs ? store2nWgsl("y", d.y) : ""),
    body: `${LINEAR_INDEX}
  if (i >= (u.n + ${g - 1}u) / ${g}u) { return; }
  let e0 = i * ${g}u;
  let cnt = min(${g}u, u.n - e0);
  ${src === "rng" ? "" : "let bits = mask[i];"}
  var packed = 0u;
  ${src === "rng" ? "var k4 = vec4<bool>(true);" : ""}
  ${loop}
  ${dst === "none" ? "_ = packed;" : "mask[i] = packed;"}`,
  };
}

/** One pass of a kernel over elements [0, n). */
interface Pass {
  /** Keep source of the kernel. */
  src: Src;
  /** Mask output of the kernel. */
  dst: Dst;
  /** Elements. */
  n: number;
  /** Input (null in place: y is read and written). */
  x: Tensor | null;
  /** Output. */
  y: Tensor;
  /** Mask read (src u8|bit) or written (dst u8|bit). */
  mask: Tensor | null;
  /** Packing of `mask`. */
  maskDtype: MaskDtype;
  /** Uniforms besides n and base; `offset` is the stream element of element 0. */
  uniforms: { seed: number; stream: number; threshold: number; scale: number; offset: number };
  /** Dtypes of x (absent in place) and y. */
  dtypes: Dtypes;
}

/** Stream offsets are integers with every element index below 2^53. */
function needOffset(op: string, offset: number, n: number): void {
  if (!(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(offset + n))) {
    throw new Error(`${op}: stream offset ${offset} is not an integer in [0, 2^53 - ${n}]`);
  }
}

/** One pass in chunks that fit a binding, with aligned offsets. */
function run(op: string, enc: Encoder, p: Pass, maxBindingBytes: number | undefined): void {
  const gpu = enc.gpu;
  if (!gpu || p.n === 0) return;
  const spec = specOf(p.src, p.dst, p.dtypes);
  // 8 * storageAlign elements: f32, f16, bf16, byte-mask and bit-mask offsets all aligned.
  const unit = 8 * gpu.storageAlign, what = `elements (${unit} at a time)`;
  const itemBytes = widestElement([p.y.dtype, ...(p.x ? [p.x.dtype] : [])]);
  for (const sp of spans(op, gpu, { count: p.n, itemBytes, unit, what, maxBindingBytes })) {
    const bindings: Record<string, Bindable> = { y: spanOf(p.y, sp) };
    if (p.x) bindings.x = spanOf(p.x, sp);
    if (p.mask) {
      bindings.mask = sp.whole ? p.mask : {
        tensor: p.mask,
        offset: bytesOf(p.maskDtype, sp.first),
        size: bytesOf(p.maskDtype, sp.count),
      };
    }
    const { offset, ...rest } = p.uniforms;
    const offHi = Math.floor(offset / 4294967296);
    enc.dispatch(
      spec,
      bindings,
      { n: sp.count, base: sp.first, ...rest, off_lo: offset - offHi * 4294967296, off_hi: offHi },
      groups1d(Math.ceil(sp.count / perWord(p.src, p.dst)), WG),
    );
  }
}

/** What `dropoutForward` reads and writes. */
export interface DropoutForwardArgs extends ChunkOptions {
  /** [n] f32, f16 or bf16 output; may alias x. */
  y: Tensor;
  /** [n] f32, f16 or bf16 input. */
  x: Tensor;
  /** Elements. */
  n: number;
  /** Drop probability in [0, 1). */
  p: number;
  /** RNG seed of the run. */
  seed: number;
  /** RNG stream of this call site and step (`dropoutStream`). */
  stream: number;
  /** [n] "u8" or "bit" (or u32 words of that packing) keep-mask output, or none. */
  mask?: Tensor | null;
  /** Packing of `mask` (default: the mask's dtype, else "bit"). */
  maskDtype?: MaskDtype;
  /** The stream element of element 0, an integer in [0, 2^53 - n] (default 0). */
  offset?: number;
}

/**
 * Dropout forward: y = keep ? x / (1 - p) : 0 over n elements, keep of element i decided by
 * `dropoutKeep(offset + i, stream, seed, keepThreshold(p))`. With `mask`, also stores the keep mask
 * (1 = kept) packed per `maskDtype`. p = 0 copies (mask all ones). `y` may alias `x`.
 */
export function dropoutForward(enc: Encoder, a: DropoutForwardArgs): void {
  const { y, x, n, p, seed, stream } = a;
  const mask = a.mask ?? null;
  const op = "dropoutForward";
  const offset = a.offset ?? 0;
  needOffset(op, offset, n);
  const dy = needFloat(op, "y", y, n, enc.gpu), dx = needFloat(op, "x", x, n, enc.gpu);
  const threshold = keepThreshold(p);
  const dt: MaskDtype = a.maskDtype ?? (mask?.dtype === "u8" ? "u8" : "bit");
  if (mask) needMask(op, mask, dt, n);
  const inPlace = y === x;
  const dtypes: Dtypes = inPlace ? { y: dy } : { x: dx, y: dy };
  if (p === 0 && inPlace && !mask) return;
  const uniforms = {
    seed: seed >>> 0,
    stream: stream >>> 0,
    threshold,
    scale: 1 / (1 - p),
    offset,
  };
  run(op, enc, {
    src: "rng",
    dst: mask ? dt : "none",
    n,
    x: inPlace ? null : x,
    y,
    mask,
    maskDtype: dt,
    uniforms,
    dtypes,
  }, a.maxBindingBytes);
}

/** What `dropoutBackward` reads and writes. */
export interface DropoutBackwardArgs extends ChunkOptions {
  /** [n] f32, f16 or bf16 output; may alias dy. */
  dx: Tensor;
  /** [n] f32, f16 or bf16 upstream gradient. */
  dy: Tensor;
  /** Elements. */
  n: number;
  /** The forward's drop probability. */
  p: number;
  /** `{ mask: [n] u8|bit, maskDtype }` or `{ seed, stream, offset }` of the forward. */
  source: DropoutSource;
}

/**
 * Dropout backward: dx = keep ? dy / (1 - p) : 0, keep read from the stored mask or regenerated
 * from (seed, stream); both give the forward's decisions bit-exactly. `dx` may alias `dy`.
 */
export function dropoutBackward(enc: Encoder, a: DropoutBackwardArgs): void {
  const { dx, dy, n, p, source } = a;
  const op = "dropoutBackward";
  const ddx = needFloat(op, "dx", dx, n, enc.gpu), ddy = needFloat(op, "dy", dy, n, enc.gpu);
  const threshold = keepThreshold(p);
  const inPlace = dx === dy;
  const dtypes: Dtypes = inPlace ? { y: ddx } : { x: ddy, y: ddx };
  const scale = 1 / (1 - p);
  const x = inPlace ? null : dy;
  if ("mask" in source) {
    needMask(op, source.mask, source.maskDtype, n);
    const uniforms = { seed: 0, stream: 0, threshold, scale, offset: 0 };
    const { mask, maskDtype } = source;
    run(
      op,
      enc,
      { src: maskDtype, dst: "none", n, x, y: dx, mask, maskDtype, uniforms, dtypes },
      a.maxBindingBytes,
    );
  } else {
    if (p === 0 && inPlace) return;
    const offset = source.offset ?? 0;
    needOffset(op, offset, n);
    const uniforms = {
      seed: source.seed >>> 0,
      stream: source.stream >>> 0,
      threshold,
      scale,
      offset,
    };
    const pass: Pass = {
      src: "rng",
      dst: "none",
      n,
      x,
      y: dx,
      mask: null,
      maskDtype: "bit",
      uniforms,
      dtypes,
    };
    run(op, enc, pass, a.maxBindingBytes);
  }
}

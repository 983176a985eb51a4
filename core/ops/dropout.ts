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
 * @module
 */
import type { Bindable, Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";
import { bytesOf } from "../dtype.ts";
import { DROPOUT_KEEP_WGSL, keepThreshold } from "./rng.ts";
import { needF32, needMask } from "./checks.ts";

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

const specs = new Map<string, KernelSpec>();
const wordElems = new Map<KernelSpec, number>();

/** Elements per invocation (= per mask word) of a dropout kernel. */
function perWord(spec: KernelSpec): number {
  return wordElems.get(spec)!;
}

/** The kernel for a keep source, an optional mask output, and in-place (x aliased to y). */
function specOf(src: Src, dst: Dst, inPlace: boolean): KernelSpec {
  const key = `${src}|${dst}|${inPlace}`;
  const hit = specs.get(key);
  if (hit) return hit;
  const g = src === "bit" || dst === "bit" ? 32 : 4; // elements per invocation (= per mask word)
  const bindings: KernelSpec["bindings"][number][] = [];
  if (!inPlace) bindings.push({ name: "x", type: "f32" });
  bindings.push({ name: "y", type: "f32", write: true });
  if (src !== "rng") bindings.push({ name: "mask", type: "u32" });
  if (dst !== "none") bindings.push({ name: "mask", type: "u32", write: true });
  // RNG: one Philox call per 4 stream elements. Element e is stream element O + base + e, with the
  // offset O = off_hi * 2^32 + off_lo (any alignment); its 4-element group is drawn at the
  // first element and at each group start.
  const keep = src === "rng"
    ? "k4[g_lo & 3u]"
    : src === "u8"
    ? "((bits >> (8u * k)) & 0xffu) != 0u"
    : "((bits >> k) & 1u) != 0u";
  const spec: KernelSpec = {
    name: `dropout_${src}_${dst}${inPlace ? "_inplace" : ""}`,
    bindings,
    uniforms: [
      ["n", "u32"],
      ["base", "u32"],
      ["seed", "u32"],
      ["stream", "u32"],
      [
        "threshold",
        "u32",
      ],
      ["scale", "f32"],
      ["off_lo", "u32"],
      ["off_hi", "u32"],
    ],
    workgroupSize: [WG],
    prelude: src === "rng" ? DROPOUT_KEEP_WGSL : undefined,
    body: `${LINEAR_INDEX}
  if (i >= (u.n + ${g - 1}u) / ${g}u) { return; }
  let e0 = i * ${g}u;
  let cnt = min(${g}u, u.n - e0);
  ${src === "rng" ? "" : "let bits = mask[i];"}
  var packed = 0u;
  ${src === "rng" ? "var k4 = vec4<bool>(true);" : ""}
  for (var k = 0u; k < cnt; k++) {
    let e = e0 + k;
    ${
      src === "rng"
        ? `let g_lo = u.off_lo + u.base + e;
    if (k == 0u || (g_lo & 3u) == 0u) {
      let g_hi = u.off_hi + select(0u, 1u, g_lo < u.base + e);
      k4 = dropout_keep4_at((g_lo >> 2u) | (g_hi << 30u), g_hi >> 2u, u.stream, u.seed, u.threshold);
    }`
        : ""
    }
    let keep = ${keep};
    y[e] = select(0.0, ${inPlace ? "y" : "x"}[e] * u.scale, keep);
    ${dst === "none" ? "" : `packed |= select(0u, 1u, keep) << (${dst === "u8" ? "8u * k" : "k"});`}
  }
  ${dst === "none" ? "_ = packed;" : "mask[i] = packed;"}`,
  };
  specs.set(key, spec);
  wordElems.set(spec, g);
  return spec;
}

/** Stream offsets are integers with every element index below 2^53. */
function needOffset(op: string, offset: number, n: number): void {
  if (!(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(offset + n))) {
    throw new Error(`${op}: stream offset ${offset} is not an integer in [0, 2^53 - ${n}]`);
  }
}

/** One pass over elements [0, n) in chunks that fit a binding, with aligned offsets. */
function run(
  op: string,
  enc: Encoder,
  spec: KernelSpec,
  n: number,
  tensors: { x: Tensor | null; y: Tensor; mask: Tensor | null },
  maskDtype: MaskDtype,
  uniforms: { seed: number; stream: number; threshold: number; scale: number; offset: number },
  maxBindingBytes: number | undefined,
): void {
  const gpu = enc.gpu;
  if (!gpu || n === 0) return;
  const g = perWord(spec);
  const maxBytes = Math.min(maxBindingBytes ?? gpu.maxBinding, gpu.maxBinding);
  const unit = 8 * gpu.storageAlign; // elements: f32, u8 and bit offsets all aligned
  const perChunk = n * 4 <= maxBytes ? n : Math.floor(maxBytes / 4 / unit) * unit;
  if (perChunk < 1) throw new Error(`${op}: maxBindingBytes ${maxBytes} is too small to chunk`);
  for (let start = 0; start < n; start += perChunk) {
    const count = Math.min(perChunk, n - start);
    const whole = count === n;
    const f32 = (t: Tensor): Bindable =>
      whole ? t : { tensor: t, offset: 4 * start, size: 4 * count };
    const bindings: Record<string, Bindable> = { y: f32(tensors.y) };
    if (tensors.x) bindings.x = f32(tensors.x);
    if (tensors.mask) {
      bindings.mask = whole ? tensors.mask : {
        tensor: tensors.mask,
        offset: bytesOf(maskDtype, start),
        size: bytesOf(maskDtype, count),
      };
    }
    const { offset, ...rest } = uniforms;
    const offHi = Math.floor(offset / 4294967296);
    enc.dispatch(
      spec,
      bindings,
      { n: count, base: start, ...rest, off_lo: offset - offHi * 4294967296, off_hi: offHi },
      groups1d(Math.ceil(count / g), WG),
    );
  }
}

/**
 * Dropout forward: y = keep ? x / (1 - p) : 0 over n elements, keep of element i decided by
 * `dropoutKeep(offset + i, stream, seed, keepThreshold(p))`. With `mask`, also stores the keep mask
 * (1 = kept) packed per `maskDtype` (default: the mask's dtype, else "bit"). p = 0 copies (mask
 * all ones). `y` may alias `x`.
 * @param y [n] f32 output
 * @param x [n] f32 input
 * @param mask [n] "u8" or "bit" (or u32 words of that packing) output, or null
 * @param maxBindingBytes largest binding (default gpu.maxBinding); tests lower it to force chunks
 * @param offset the stream element of element 0, an integer in [0, 2^53 - n] (default 0)
 */
export function dropoutForward(
  enc: Encoder,
  y: Tensor,
  x: Tensor,
  n: number,
  p: number,
  seed: number,
  stream: number,
  mask: Tensor | null = null,
  maskDtype?: MaskDtype,
  maxBindingBytes?: number,
  offset = 0,
): void {
  const op = "dropoutForward";
  needOffset(op, offset, n);
  needF32(op, "y", y, n);
  needF32(op, "x", x, n);
  const threshold = keepThreshold(p);
  const dt: MaskDtype = maskDtype ?? (mask?.dtype === "u8" ? "u8" : "bit");
  if (mask) needMask(op, mask, dt, n);
  const inPlace = y === x;
  if (p === 0 && inPlace && !mask) return;
  const spec = specOf("rng", mask ? dt : "none", inPlace);
  const u = { seed: seed >>> 0, stream: stream >>> 0, threshold, scale: 1 / (1 - p), offset };
  run(op, enc, spec, n, { x: inPlace ? null : x, y, mask }, dt, u, maxBindingBytes);
}

/**
 * Dropout backward: dx = keep ? dy / (1 - p) : 0, keep read from the stored mask or regenerated
 * from (seed, stream); both give the forward's decisions bit-exactly. `dx` may alias `dy`.
 * @param dx [n] f32 output
 * @param dy [n] f32 upstream gradient
 * @param source `{ mask: [n] u8|bit, maskDtype }` or `{ seed, stream }` of the forward
 * @param maxBindingBytes largest binding (default gpu.maxBinding); tests lower it to force chunks
 */
export function dropoutBackward(
  enc: Encoder,
  dx: Tensor,
  dy: Tensor,
  n: number,
  p: number,
  source: DropoutSource,
  maxBindingBytes?: number,
): void {
  const op = "dropoutBackward";
  needF32(op, "dx", dx, n);
  needF32(op, "dy", dy, n);
  const threshold = keepThreshold(p);
  const inPlace = dx === dy;
  const scale = 1 / (1 - p);
  const x = inPlace ? null : dy;
  if ("mask" in source) {
    needMask(op, source.mask, source.maskDtype, n);
    const spec = specOf(source.maskDtype, "none", inPlace);
    const u = { seed: 0, stream: 0, threshold, scale, offset: 0 };
    run(op, enc, spec, n, { x, y: dx, mask: source.mask }, source.maskDtype, u, maxBindingBytes);
  } else {
    if (p === 0 && inPlace) return;
    const spec = specOf("rng", "none", inPlace);
    const offset = source.offset ?? 0;
    needOffset(op, offset, n);
    const u = { seed: source.seed >>> 0, stream: source.stream >>> 0, threshold, scale, offset };
    run(op, enc, spec, n, { x, y: dx, mask: null }, "bit", u, maxBindingBytes);
  }
}

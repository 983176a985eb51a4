/**
 * Attention softmax over rows: P = softmax(scale * S) per row of `cols` keys, with optional causal
 * and key-padding masks (masked entries get probability 0; a fully masked row gives zeros, not
 * NaN); backward dS = scale * P * (dP - rowsum(dP * P)), which needs only P (Tempo keeps P, not S).
 * Rows are laid out [B, NH, T] (rows = B*NH*T, query position t = row % T), cols = T keys.
 * Two kernel variants, each with a fixed summation order (deterministic), picked by the kernel
 * policy (`softmax`): `workgroup`, one workgroup per row reducing in workgroup memory (real GPUs,
 * and long rows); `row`, one invocation per row, no barriers, vec4 loads when cols % 4 == 0, and
 * causal rows only read keys j <= q (the software adapter: llvmpipe runs a workgroup as a fiber,
 * 8 SIMD lanes along x, where barriers and idle lanes are costly). Operands larger than one
 * binding are split into spans of whole rows with aligned offsets.
 * @module
 */
import type { Bindable, Encoder } from "../encoder.ts";
import type { Gpu } from "../gpu.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { rowKernelFor } from "../kernel_policy.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needF32 } from "./checks.ts";
import { alignedItems, type ChunkOptions, type Span, spanRange, spans } from "./chunking.ts";

/** What `softmaxForward` reads and writes, and how. */
export interface SoftmaxForwardArgs extends ChunkOptions {
  /** [rows, cols] f32 output (rows = B*NH*T, cols = T); may alias S (in place). */
  P: Tensor;
  /** [rows, cols] f32 scores. */
  S: Tensor;
  /** Rows. */
  rows: number;
  /** Keys per row. */
  cols: number;
  /** Multiplies S before the softmax (1 / sqrt(HS) for attention). */
  scale: number;
  /** Mask key j > query position (row % T). */
  causal?: boolean;
  /** Query positions per (b, h) block (default cols); row r's query position is r % T. */
  T?: number;
  /**
   * i32 [B, cols]: 1 = real token, 0 = pad. Key j of row r is masked when
   * padMask[b * cols + j] == 0, b = floor(r / rowsPerBatch).
   */
  padMask?: Tensor | null;
  /** Rows per batch element (NH * T); required with padMask. */
  rowsPerBatch?: number;
}

const WG = 128;
/** Invocations per workgroup of the row-per-invocation kernels. */
const ROW_WG = 64;
/**
 * Longest row the row kernels keep in private arrays (one kernel per cols), so that later passes
 * read no buffer; llvmpipe's compile time grows fast with the array (128: ~0.5 s).
 */
const CACHE_MAX_COLS = 128;
const NEG = "-3.40282347e38";

const PRELUDE = `
var<workgroup> red: array<f32, WG_X>;
fn wg_reduce(v: f32, lidx: u32, is_max: bool) -> f32 {
  red[lidx] = v;
  workgroupBarrier();
  for (var s = WG_X / 2u; s > 0u; s >>= 1u) {
    if (lidx < s) {
      let o = red[lidx + s];
      red[lidx] = select(red[lidx] + o, max(red[lidx], o), is_max);
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}
`;

function forwardSpec(pad: boolean, inPlace: boolean): KernelSpec {
  const name = `softmax_fwd${pad ? "_pad" : ""}${inPlace ? "_inplace" : ""}`;
  return cachedSpec(name, () => forwardSpecOf(name, pad, inPlace));
}

function forwardSpecOf(name: string, pad: boolean, inPlace: boolean): KernelSpec {
  const S = inPlace ? "P" : "S";
  return {
    name,
    bindings: [
      ...(inPlace ? [] : [{ name: "S", type: "f32" as const }]),
      ...(pad ? [{ name: "pad", type: "i32" as const }] : []),
      { name: "P", type: "f32", write: true },
    ],
    uniforms: [
      ["rows", "u32"],
      ["cols", "u32"],
      ["rowBase", "u32"],
      ["T", "u32"],
      [
        "rowsPerBatch",
        "u32",
      ],
      ["causal", "u32"],
      ["scale", "f32"],
    ],
    workgroupSize: [WG],
    prelude: `${PRELUDE}
fn masked(j: u32, q: u32, b: u32) -> bool {
  var m = u.causal != 0u && j > q;
  ${pad ? "m = m || pad[b * u.cols + j] == 0;" : "_ = b;"}
  return m;
}`,
    body: `
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) { return; }
  let grow = u.rowBase + row;
  let q = grow % u.T;
  let b = grow / u.rowsPerBatch;
  let off = row * u.cols;
  var mx = ${NEG};
  for (var j = lidx; j < u.cols; j += WG_X) {
    if (!masked(j, q, b)) { mx = max(mx, u.scale * ${S}[off + j]); }
  }
  mx = wg_reduce(mx, lidx, true);
  var sum = 0.0;
  for (var j = lidx; j < u.cols; j += WG_X) {
    if (!masked(j, q, b)) { sum += exp(u.scale * ${S}[off + j] - mx); }
  }
  sum = wg_reduce(sum, lidx, false);
  let empty = mx == ${NEG};
  let inv = select(1.0 / sum, 0.0, empty);
  for (var j = lidx; j < u.cols; j += WG_X) {
    let v = u.scale * ${S}[off + j];
    P[off + j] = select(exp(v - mx) * inv, 0.0, empty || masked(j, q, b));
  }`,
  };
}

function backwardSpec(inPlace: boolean): KernelSpec {
  const name = `softmax_bwd${inPlace ? "_inplace" : ""}`;
  return cachedSpec(name, () => ({
    name,
    bindings: [
      { name: "P", type: "f32" },
      { name: "dP", type: "f32", write: inPlace },
      ...(inPlace ? [] : [{ name: "dS", type: "f32" as const, write: true }]),
    ],
    uniforms: [["rows", "u32"], ["cols", "u32"], ["scale", "f32"]],
    workgroupSize: [WG],
    prelude: PRELUDE,
    body: `
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) { return; }
  let off = row * u.cols;
  var acc = 0.0;
  for (var j = lidx; j < u.cols; j += WG_X) { acc += dP[off + j] * P[off + j]; }
  let dot = wg_reduce(acc, lidx, false);
  for (var j = lidx; j < u.cols; j += WG_X) {
    ${inPlace ? "dP" : "dS"}[off + j] = u.scale * P[off + j] * (dP[off + j] - dot);
  }`,
  }));
}

/** WGSL horizontal sum (fixed order) of a row-kernel value of width w. */
function hsum(w: number, v: string): string {
  return w === 4 ? `(((${v}).x + (${v}).y) + ((${v}).z + (${v}).w))` : `(${v})`;
}

/**
 * Forward, one invocation per row; w = 4 reads vec4 (cols % 4 == 0). Pass 1: max over the keys
 * j < jend (causal: jend = q + 1) not padded; pass 2 computes e = exp(v - max) (0 where masked)
 * and sums it; pass 3 writes e / sum; keys from jend on are written 0 without reading S. With
 * cacheCols = cols > 0 (the kernel is specialised on cols) pass 1 keeps v (-inf where masked) in
 * a private array and passes 2-3 read no buffer; otherwise pass 2 stores e in P and pass 3
 * rescales P.
 */
function forwardRowSpec(pad: boolean, inPlace: boolean, w: number, cacheCols: number): KernelSpec {
  const name = `softmax_fwd_rows${w === 4 ? "_v4" : ""}${cacheCols ? `_c${cacheCols}` : ""}${
    pad ? "_pad" : ""
  }${inPlace ? "_inplace" : ""}`;
  return cachedSpec(name, () => forwardRowSpecOf(name, pad, inPlace, w, cacheCols));
}

function forwardRowSpecOf(
  name: string,
  pad: boolean,
  inPlace: boolean,
  w: number,
  cacheCols: number,
): KernelSpec {
  const S = inPlace ? "P" : "S";
  const T = w === 4 ? "vec4f" : "f32";
  const B = w === 4 ? "vec4<bool>" : "bool";
  const type = w === 4 ? "vec4<f32>" as const : "f32" as const;
  const padAt = (k: number) => `pad[pb + j0 + ${k}u] != 0`;
  const padTest = w === 4
    ? `v = v & vec4<bool>(${[0, 1, 2, 3].map(padAt).join(", ")});`
    : `v = v && ${padAt(0)};`;
  return {
    name,
    bindings: [
      ...(inPlace ? [] : [{ name: "S", type }]),
      ...(pad ? [{ name: "pad", type: "i32" as const }] : []),
      { name: "P", type, write: true },
    ],
    uniforms: [
      ["rows", "u32"],
      ["cols", "u32"],
      ["rowBase", "u32"],
      ["T", "u32"],
      ["rowsPerBatch", "u32"],
      ["causal", "u32"],
      ["scale", "f32"],
    ],
    workgroupSize: [ROW_WG],
    prelude: `
fn keep(j0: u32, jend: u32, pb: u32) -> ${B} {
  var v = ${w === 4 ? "vec4u(j0) + vec4u(0u, 1u, 2u, 3u) < vec4u(jend)" : "j0 < jend"};
  ${pad ? padTest : "_ = pb;"}
  return v;
}`,
    body: `${LINEAR_INDEX}
  if (i >= u.rows) { return; }
  let grow = u.rowBase + i;
  let q = grow % u.T;
  let pb = (grow / u.rowsPerBatch) * u.cols;
  let jend = select(u.cols, min(u.cols, q + 1u), u.causal != 0u);
  let n = ${cacheCols ? `${cacheCols / w}u` : `u.cols / ${w}u`};
  let nv = (jend + ${w - 1}u) / ${w}u;
  let off = i * n;
  ${cacheCols ? rowCached(S, T, w, cacheCols) : rowUncached(S, T, w)}
  for (var k = nv; k < n; k++) { P[off + k] = ${T}(0.0); }`,
  };
}

/** Passes 1-3 of the uncached forward row kernel (see forwardRowSpec). */
function rowUncached(S: string, T: string, w: number): string {
  return `var m = ${T}(${NEG});
  for (var k = 0u; k < nv; k++) {
    m = max(m, select(${T}(${NEG}), u.scale * ${S}[off + k], keep(k * ${w}u, jend, pb)));
  }
  let mx = ${w === 4 ? "max(max(m.x, m.y), max(m.z, m.w))" : "m"};
  var acc = ${T}(0.0);
  for (var k = 0u; k < nv; k++) {
    let e = select(${T}(0.0), exp(u.scale * ${S}[off + k] - mx), keep(k * ${w}u, jend, pb));
    P[off + k] = e;
    acc += e;
  }
  let sum = ${hsum(w, "acc")};
  let inv = select(1.0 / sum, 0.0, mx == ${NEG});
  for (var k = 0u; k < nv; k++) { P[off + k] *= inv; }`;
}

/**
 * Passes 1-3 of the cached forward row kernel: masked keys are kept as -inf (never the max, as m
 * starts at -FLT_MAX) and selected to exactly 0; a NaN score still propagates.
 */
function rowCached(S: string, T: string, w: number, cols: number): string {
  const ninf = `${T}(bitcast<f32>(0xff800000u))`;
  return `var vs: array<${T}, ${cols / w}>;
  var m = ${T}(${NEG});
  for (var k = 0u; k < nv; k++) {
    let v = select(${ninf}, u.scale * ${S}[off + k], keep(k * ${w}u, jend, pb));
    vs[k] = v;
    m = max(m, v);
  }
  let mx = ${w === 4 ? "max(max(m.x, m.y), max(m.z, m.w))" : "m"};
  var acc = ${T}(0.0);
  for (var k = 0u; k < nv; k++) {
    let v = vs[k];
    let e = select(${T}(0.0), exp(v - mx), v != ${ninf});
    vs[k] = e;
    acc += e;
  }
  let sum = ${hsum(w, "acc")};
  let inv = select(1.0 / sum, 0.0, mx == ${NEG});
  for (var k = 0u; k < nv; k++) { P[off + k] = vs[k] * inv; }`;
}

/**
 * Backward, one invocation per row; w = 4 reads vec4 (cols % 4 == 0). With cacheCols = cols > 0
 * (specialised on cols) pass 1 keeps P and dP in private arrays and pass 2 reads no buffer.
 */
function backwardRowSpec(inPlace: boolean, w: number, cacheCols: number): KernelSpec {
  const name = `softmax_bwd_rows${w === 4 ? "_v4" : ""}${cacheCols ? `_c${cacheCols}` : ""}${
    inPlace ? "_inplace" : ""
  }`;
  return cachedSpec(name, () => backwardRowSpecOf(name, inPlace, w, cacheCols));
}

function backwardRowSpecOf(name: string, inPlace: boolean, w: number, cacheCols: number) {
  const T = w === 4 ? "vec4f" : "f32";
  const type = w === 4 ? "vec4<f32>" as const : "f32" as const;
  const spec: KernelSpec = {
    name,
    bindings: [
      { name: "P", type },
      { name: "dP", type, write: inPlace },
      ...(inPlace ? [] : [{ name: "dS", type, write: true }]),
    ],
    uniforms: [["rows", "u32"], ["cols", "u32"], ["scale", "f32"]],
    workgroupSize: [ROW_WG],
    body: `${LINEAR_INDEX}
  if (i >= u.rows) { return; }
  let n = ${cacheCols ? `${cacheCols / w}u` : `u.cols / ${w}u`};
  let off = i * n;
  ${
      cacheCols
        ? `var ps: array<${T}, ${cacheCols / w}>;\n  var ds: array<${T}, ${cacheCols / w}>;`
        : ""
    }
  var acc = ${T}(0.0);
  for (var k = 0u; k < n; k++) {
    let p = P[off + k];
    let d = dP[off + k];
    ${cacheCols ? "ps[k] = p;\n    ds[k] = d;" : ""}
    acc += d * p;
  }
  let dot = ${hsum(w, "acc")};
  for (var k = 0u; k < n; k++) {
    ${inPlace ? "dP" : "dS"}[off + k] = u.scale * ${
      cacheCols ? "ps[k] * (ds[k]" : "P[off + k] * (dP[off + k]"
    } - dot);
  }`,
  };
  return spec;
}

/** Spans of whole rows whose [rows, cols] f32 ranges fit one binding and start aligned. */
function rowSpans(
  op: string,
  gpu: Gpu,
  rows: number,
  cols: number,
  maxBindingBytes?: number,
): Span[] {
  const unit = alignedItems(gpu, 4 * cols), what = `rows of ${cols} keys`;
  return spans(op, gpu, { count: rows, itemBytes: 4 * cols, unit, what, maxBindingBytes });
}

/**
 * P = softmax(scale * S) per row, masked entries excluded (probability 0); fully masked rows give
 * zeros. `P` may alias `S` (in place). padMask is bound whole.
 */
export function softmaxForward(enc: Encoder, opts: SoftmaxForwardArgs): void {
  const { P, S, rows, cols } = opts;
  const op = "softmaxForward";
  needF32(op, "P", P, rows * cols);
  needF32(op, "S", S, rows * cols);
  const T = opts.T ?? cols;
  const pad = opts.padMask ?? null;
  let rowsPerBatch = opts.rowsPerBatch ?? 0;
  if (pad) {
    if (pad.dtype !== "i32") throw new Error(`${op}: padMask must be i32, got ${pad}`);
    if (!(rowsPerBatch > 0)) throw new Error(`${op}: padMask needs rowsPerBatch (NH * T)`);
    const B = Math.ceil(rows / rowsPerBatch);
    if (pad.size < B * cols) throw new Error(`${op}: padMask ${pad} has fewer than ${B * cols}`);
  } else rowsPerBatch = Math.max(rows, 1);
  if (!(T > 0)) throw new Error(`${op}: T must be positive`);
  const gpu = enc.gpu;
  if (!gpu || rows === 0) return;
  const inPlace = P === S;
  const rowWise = rowKernelFor(gpu.kernels, "softmax", cols) === "row";
  const w = rowWise && cols % 4 === 0 ? 4 : 1;
  const cacheCols = cols <= CACHE_MAX_COLS ? cols : 0;
  const spec = rowWise
    ? forwardRowSpec(pad !== null, inPlace, w, cacheCols)
    : forwardSpec(pad !== null, inPlace);
  for (const ch of rowSpans(op, gpu, rows, cols, opts.maxBindingBytes)) {
    const range = (t: Tensor): Bindable => spanRange(t, ch, 4 * cols, w === 4);
    const b: Record<string, Bindable> = { P: range(P) };
    if (!inPlace) b.S = range(S);
    if (pad) b.pad = pad;
    enc.dispatch(spec, b, {
      rows: ch.count,
      cols,
      rowBase: ch.first,
      T,
      rowsPerBatch,
      causal: opts.causal ? 1 : 0,
      scale: opts.scale,
    }, groups1d(ch.count, rowWise ? ROW_WG : 1));
  }
}

/** What `softmaxBackward` reads and writes. */
export interface SoftmaxBackwardArgs extends ChunkOptions {
  /** [rows, cols] f32 output; may alias dP (in place). */
  dS: Tensor;
  /** [rows, cols] f32 upstream gradient. */
  dP: Tensor;
  /** [rows, cols] f32 forward output. */
  P: Tensor;
  /** Rows. */
  rows: number;
  /** Keys per row. */
  cols: number;
  /** The forward's scale (folded into dS). */
  scale: number;
}

/**
 * dS = scale * P * (dP - rowsum(dP * P)) per row (the softmax backward from its output alone).
 * `dS` may alias `dP` (in place).
 */
export function softmaxBackward(enc: Encoder, a: SoftmaxBackwardArgs): void {
  const { dS, dP, P, rows, cols, scale } = a;
  const op = "softmaxBackward";
  for (const [name, t] of [["dS", dS], ["dP", dP], ["P", P]] as const) {
    needF32(op, name, t, rows * cols);
  }
  if (dS === P) throw new Error(`${op}: dS aliasing P is unsupported`);
  const gpu = enc.gpu;
  if (!gpu || rows === 0) return;
  const inPlace = dS === dP;
  const rowWise = rowKernelFor(gpu.kernels, "softmax", cols) === "row";
  const w = rowWise && cols % 4 === 0 ? 4 : 1;
  const cacheCols = cols <= CACHE_MAX_COLS ? cols : 0;
  const spec = rowWise ? backwardRowSpec(inPlace, w, cacheCols) : backwardSpec(inPlace);
  for (const ch of rowSpans(op, gpu, rows, cols, a.maxBindingBytes)) {
    const range = (t: Tensor): Bindable => spanRange(t, ch, 4 * cols, w === 4);
    const b: Record<string, Bindable> = { P: range(P), dP: range(dP) };
    if (!inPlace) b.dS = range(dS);
    const g = groups1d(ch.count, rowWise ? ROW_WG : 1);
    enc.dispatch(spec, b, { rows: ch.count, cols, scale }, g);
  }
}

/**
 * Attention softmax over rows: P = softmax(scale * S) per row of `cols` keys, with optional causal
 * and key-padding masks (masked entries get probability 0; a fully masked row gives zeros, not
 * NaN); backward dS = scale * P * (dP - rowsum(dP * P)), which needs only P (Tempo keeps P, not S).
 * Rows are laid out [B, NH, T] (rows = B*NH*T, query position t = row % T), cols = T keys.
 * Three kernel variants, each deterministic, picked by the kernel policy (`softmax`):
 * `workgroup`, one workgroup per row reducing in workgroup memory (a fixed tree: real GPUs, and
 * long rows); `subgroup`, the same kernel reducing with subgroup operations (the hardware's
 * order: GPUs with `subgroups`, `row_reduce_subgroup.ts`); `row`, one invocation per row, no
 * barriers, vec4 loads when cols % 4 == 0, and causal rows only read keys j <= q (the software
 * adapter: llvmpipe runs a workgroup as a fiber, 8 SIMD lanes along x, where barriers and idle
 * lanes are costly). Operands larger than one binding are split into spans of whole rows with
 * aligned offsets.
 *
 * S, P, dP, dS are f32, f16 or bf16, each its own; the arithmetic (max, exp, sums) is f32 and each
 * output element is rounded once to its dtype (Megatron's fused softmax keeps probabilities in
 * 16 bits the same way). A 16-bit output is written in whole words (`half_kernels.ts`): the vec4
 * row kernels as in f32 (rows of whole quads), the others word by word in blocks of one row, or
 * two rows when rows have odd length (odd T), so every variant takes every T.
 * @module
 */
import { elementBytes, type FloatDType } from "../dtype.ts";
import type { Bindable, Encoder } from "../encoder.ts";
import type { Gpu } from "../gpu.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { rowKernelFor } from "../kernel_policy.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needFloat } from "./checks.ts";
import { alignedItemsOf, type ChunkOptions, type Span, spanOf, spans } from "./chunking.ts";
import {
  blockHeadWgsl,
  blockRangeWgsl,
  dtypeSuffix,
  rowsPerBlock,
  rowWordsWgsl,
  store2nWgsl,
} from "./half_kernels.ts";
import { subgroupReduceWgsl } from "./row_reduce_subgroup.ts";

/** What `softmaxForward` reads and writes, and how. */
export interface SoftmaxForwardArgs extends ChunkOptions {
  /** [rows, cols] f32, f16 or bf16 output (rows = B*NH*T, cols = T); may alias S (in place). */
  P: Tensor;
  /** [rows, cols] f32, f16 or bf16 scores. */
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

/** `wg_reduce(v, lidx, is_max)`: the `workgroup` variant's tree in workgroup memory. */
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

/** `wg_reduce(v, lidx, is_max)` of the `subgroup` variant (`row_reduce_subgroup.ts`). */
const SUBGROUP_PRELUDE = `${subgroupReduceWgsl("sg_sum", "f32", "add")}
${subgroupReduceWgsl("sg_max", "f32", "max")}
fn wg_reduce(v: f32, lidx: u32, is_max: bool) -> f32 {
  if (is_max) { return sg_max(v, lidx); }
  return sg_sum(v, lidx);
}
`;

/**
 * Float dtypes of a softmax kernel's operands: forward S (absent in place) and P; backward P, dP
 * and dS (absent in place: dP is overwritten).
 */
type Dtypes = Readonly<Record<string, FloatDType>>;

/** The written binding of a kernel: forward P; backward dS, or dP in place. */
function outOf(kind: "fwd" | "bwd", d: Dtypes): string {
  return kind === "fwd" ? "P" : "dS" in d ? "dS" : "dP";
}

/** Uniforms of the forward kernels (`rpi`: rows per block, only in the 16-bit word kernels). */
function forwardUniforms(words: boolean): KernelSpec["uniforms"] {
  return [
    ["rows", "u32"],
    ["cols", "u32"],
    ["rowBase", "u32"],
    ["T", "u32"],
    ["rowsPerBatch", "u32"],
    ["causal", "u32"],
    ["scale", "f32"],
    ...(words ? [["rpi", "u32"] as const] : []),
  ];
}

/**
 * The workgroup reductions (`wg_reduce`) of a workgroup-per-row kernel: a tree in workgroup
 * memory, or (`sg`: the `subgroup` variant) subgroup operations.
 */
function reducePrelude(sg: boolean): string {
  return sg ? SUBGROUP_PRELUDE : PRELUDE;
}

function forwardSpec(pad: boolean, d: Dtypes, sg: boolean): KernelSpec {
  const inPlace = !("S" in d);
  const name = `softmax_fwd${sg ? "_sg" : ""}${pad ? "_pad" : ""}${inPlace ? "_inplace" : ""}${
    dtypeSuffix(d)
  }`;
  return cachedSpec(name, () => ({ ...forwardSpecOf(name, pad, d, sg), subgroups: sg }));
}

/**
 * Forward, one workgroup per row (f32 P), or per block of rows (16-bit P: the rows' statistics,
 * then the block's words, each by one invocation).
 */
function forwardSpecOf(name: string, pad: boolean, d: Dtypes, sg: boolean): KernelSpec {
  const inPlace = !("S" in d);
  const S = inPlace ? "P" : "S";
  const words = d.P !== "f32";
  const stats = `let grow = u.rowBase + row;
  let q = grow % u.T;
  let b = grow / u.rowsPerBatch;
  let off = row * u.cols;
  var mx = ${NEG};
  for (var j = lidx; j < u.cols; j += WG_X) {
    if (!masked(j, q, b)) { mx = max(mx, u.scale * ${S}_load(off + j)); }
  }
  mx = wg_reduce(mx, lidx, true);
  var sum = 0.0;
  for (var j = lidx; j < u.cols; j += WG_X) {
    if (!masked(j, q, b)) { sum += exp(u.scale * ${S}_load(off + j) - mx); }
  }
  sum = wg_reduce(sum, lidx, false);
  let empty = mx == ${NEG};
  let inv = select(1.0 / sum, 0.0, empty);`;
  const body = words
    ? `
  ${blockHeadWgsl("wid.x + wid.y * nwg.x", "u.rows")}
  var mxs: array<f32, 2>;
  var invs: array<f32, 2>;
  var qs: array<u32, 2>;
  var bs: array<u32, 2>;
  var empties: array<bool, 2>;
  for (var rr = 0u; rr < nr; rr++) {
    let row = r0 + rr;
    ${stats}
    mxs[rr] = mx;
    invs[rr] = inv;
    qs[rr] = q;
    bs[rr] = b;
    empties[rr] = empty;
  }
  ${blockRangeWgsl("u.cols")}
  ${
      rowWordsWgsl({
        out: "P",
        cols: "u.cols",
        start: "lidx",
        stride: "WG_X",
        value: `select(exp(u.scale * ${S}_load(e) - mxs[rr]) * invs[rr], 0.0, ` +
          `empties[rr] || masked(k, qs[rr], bs[rr]))`,
      })
    }`
    : `
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) { return; }
  ${stats}
  for (var j = lidx; j < u.cols; j += WG_X) {
    let v = u.scale * ${S}_load(off + j);
    P_store(off + j, select(exp(v - mx) * inv, 0.0, empty || masked(j, q, b)));
  }`;
  return {
    name,
    bindings: [
      ...(inPlace ? [] : [{ name: "S", dtype: d.S }]),
      ...(pad ? [{ name: "pad", type: "i32" as const }] : []),
      { name: "P", dtype: d.P, write: true },
    ],
    uniforms: forwardUniforms(words),
    workgroupSize: [WG],
    prelude: `${reducePrelude(sg)}
fn masked(j: u32, q: u32, b: u32) -> bool {
  var m = u.causal != 0u && j > q;
  ${pad ? "m = m || pad[b * u.cols + j] == 0;" : "_ = b;"}
  return m;
}${words ? `\n${store2nWgsl("P", d.P)}` : ""}`,
    body,
  };
}

function backwardSpec(d: Dtypes, sg: boolean): KernelSpec {
  const inPlace = !("dS" in d);
  const name = `softmax_bwd${sg ? "_sg" : ""}${inPlace ? "_inplace" : ""}${dtypeSuffix(d)}`;
  return cachedSpec(name, () => {
    const out = outOf("bwd", d);
    const words = d[out] !== "f32";
    const stats = `let off = row * u.cols;
  var acc = 0.0;
  for (var j = lidx; j < u.cols; j += WG_X) { acc += dP_load(off + j) * P_load(off + j); }
  let dot = wg_reduce(acc, lidx, false);`;
    const body = words
      ? `
  ${blockHeadWgsl("wid.x + wid.y * nwg.x", "u.rows")}
  var dots: array<f32, 2>;
  for (var rr = 0u; rr < nr; rr++) {
    let row = r0 + rr;
    ${stats}
    dots[rr] = dot;
  }
  ${blockRangeWgsl("u.cols")}
  ${
        rowWordsWgsl({
          out,
          cols: "u.cols",
          start: "lidx",
          stride: "WG_X",
          value: "u.scale * P_load(e) * (dP_load(e) - dots[rr])",
        })
      }`
      : `
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) { return; }
  ${stats}
  for (var j = lidx; j < u.cols; j += WG_X) {
    ${out}_store(off + j, u.scale * P_load(off + j) * (dP_load(off + j) - dot));
  }`;
    return {
      name,
      bindings: [
        { name: "P", dtype: d.P },
        { name: "dP", dtype: d.dP, write: inPlace },
        ...(inPlace ? [] : [{ name: "dS", dtype: d.dS, write: true }]),
      ],
      uniforms: [["rows", "u32"], ["cols", "u32"], ["scale", "f32"], ...rpiUniform(words)],
      workgroupSize: [WG],
      prelude: reducePrelude(sg) + (words ? store2nWgsl(out, d[out]) : ""),
      body,
      subgroups: sg,
    };
  });
}

/** The `rpi` uniform of the 16-bit word kernels (rows per block). */
function rpiUniform(words: boolean): (readonly [string, "u32"])[] {
  return words ? [["rpi", "u32"]] : [];
}

/** WGSL horizontal sum (fixed order) of a row-kernel value of width w. */
function hsum(w: number, v: string): string {
  return w === 4 ? `(((${v}).x + (${v}).y) + ((${v}).z + (${v}).w))` : `(${v})`;
}

/** Load and store of width w (element or vec4) through binding x's accessors. */
function loadW(w: number, x: string, at: string): string {
  return w === 4 ? `${x}_load4(${at})` : `${x}_load(${at})`;
}
function storeW(w: number, x: string, at: string, v: string): string {
  return w === 4 ? `${x}_store4(${at}, ${v})` : `${x}_store(${at}, ${v})`;
}

/**
 * Forward, one invocation per row; w = 4 reads vec4 (cols % 4 == 0). Pass 1: max over the keys
 * j < jend (causal: jend = q + 1) not padded; pass 2 computes e = exp(v - max) (0 where masked)
 * and sums it; pass 3 writes e / sum; keys from jend on are written 0 without reading S. With
 * cacheCols = cols > 0 (the kernel is specialised on cols) pass 1 keeps v (-inf where masked) in
 * a private array and passes 2-3 read no buffer; otherwise pass 2 stores e in P and pass 3
 * rescales P (a 16-bit P: pass 3 computes e again, so that P is rounded once). A 16-bit P with
 * w = 1 takes the word kernel (`forwardWordsSpecOf`).
 */
function forwardRowSpec(pad: boolean, d: Dtypes, w: number, cacheCols: number): KernelSpec {
  const inPlace = !("S" in d);
  const name = `softmax_fwd_rows${w === 4 ? "_v4" : ""}${cacheCols ? `_c${cacheCols}` : ""}${
    pad ? "_pad" : ""
  }${inPlace ? "_inplace" : ""}${dtypeSuffix(d)}`;
  return cachedSpec(name, () => {
    return w === 1 && d.P !== "f32"
      ? forwardWordsSpecOf(name, pad, d, cacheCols)
      : forwardRowSpecOf(name, pad, d, w, cacheCols);
  });
}

/** The keep test of the row kernels (width w) and the row kernels' uniforms. */
function keepWgsl(pad: boolean, w: number): string {
  const B = w === 4 ? "vec4<bool>" : "bool";
  const padAt = (k: number) => `pad[pb + j0 + ${k}u] != 0`;
  const padTest = w === 4
    ? `v = v & vec4<bool>(${[0, 1, 2, 3].map(padAt).join(", ")});`
    : `v = v && ${padAt(0)};`;
  return `
fn keep(j0: u32, jend: u32, pb: u32) -> ${B} {
  var v = ${w === 4 ? "vec4u(j0) + vec4u(0u, 1u, 2u, 3u) < vec4u(jend)" : "j0 < jend"};
  ${pad ? padTest : "_ = pb;"}
  return v;
}`;
}

function forwardRowSpecOf(
  name: string,
  pad: boolean,
  d: Dtypes,
  w: number,
  cacheCols: number,
): KernelSpec {
  const inPlace = !("S" in d);
  const S = inPlace ? "P" : "S";
  const T = w === 4 ? "vec4f" : "f32";
  return {
    name,
    bindings: [
      ...(inPlace ? [] : [{ name: "S", dtype: d.S, width: w as 1 | 4 }]),
      ...(pad ? [{ name: "pad", type: "i32" as const }] : []),
      { name: "P", dtype: d.P, width: w as 1 | 4, write: true },
    ],
    uniforms: forwardUniforms(false),
    workgroupSize: [ROW_WG],
    prelude: keepWgsl(pad, w),
    body: `${LINEAR_INDEX}
  if (i >= u.rows) { return; }
  let grow = u.rowBase + i;
  let q = grow % u.T;
  let pb = (grow / u.rowsPerBatch) * u.cols;
  let jend = select(u.cols, min(u.cols, q + 1u), u.causal != 0u);
  let n = ${cacheCols ? `${cacheCols / w}u` : `u.cols / ${w}u`};
  let nv = (jend + ${w - 1}u) / ${w}u;
  let off = i * n;
  ${cacheCols ? rowCached(S, T, w, cacheCols) : rowUncached(S, T, w, d.P !== "f32")}
  for (var k = nv; k < n; k++) { ${storeW(w, "P", "off + k", `${T}(0.0)`)}; }`,
  };
}

/** Passes 1-3 of the uncached forward row kernel (see forwardRowSpec); `half`: P is 16-bit. */
function rowUncached(S: string, T: string, w: number, half: boolean): string {
  const third = half
    ? `for (var k = 0u; k < nv; k++) {
    let e = select(${T}(0.0), exp(u.scale * ${
      loadW(w, S, "off + k")
    } - mx), keep(k * ${w}u, jend, pb));
    ${storeW(w, "P", "off + k", "e * inv")};
  }`
    : `for (var k = 0u; k < nv; k++) { ${
      storeW(w, "P", "off + k", `${loadW(w, "P", "off + k")} * inv`)
    }; }`;
  return `var m = ${T}(${NEG});
  for (var k = 0u; k < nv; k++) {
    m = max(m, select(${T}(${NEG}), u.scale * ${
    loadW(w, S, "off + k")
  }, keep(k * ${w}u, jend, pb)));
  }
  let mx = ${w === 4 ? "max(max(m.x, m.y), max(m.z, m.w))" : "m"};
  var acc = ${T}(0.0);
  for (var k = 0u; k < nv; k++) {
    let e = select(${T}(0.0), exp(u.scale * ${
    loadW(w, S, "off + k")
  } - mx), keep(k * ${w}u, jend, pb));
    ${half ? "" : `${storeW(w, "P", "off + k", "e")};`}
    acc += e;
  }
  let sum = ${hsum(w, "acc")};
  let inv = select(1.0 / sum, 0.0, mx == ${NEG});
  ${third}`;
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
    let v = select(${ninf}, u.scale * ${loadW(w, S, "off + k")}, keep(k * ${w}u, jend, pb));
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
  for (var k = 0u; k < nv; k++) { ${storeW(w, "P", "off + k", "vs[k] * inv")}; }`;
}

/**
 * Forward with a 16-bit P and rows that are not whole quads, one invocation per block of
 * `u.rpi` rows: each row's max and sum as in the scalar row kernel (cacheCols: the row's values
 * kept in a private array, two rows' worth), then the block's words, e computed again from S
 * (or from the cache) so that P is rounded once.
 */
function forwardWordsSpecOf(name: string, pad: boolean, d: Dtypes, cacheCols: number): KernelSpec {
  const inPlace = !("S" in d);
  const S = inPlace ? "P" : "S";
  const ninf = "bitcast<f32>(0xff800000u)";
  const cache = cacheCols ? `var vs: array<f32, ${cacheCols * rowsPerBlock(cacheCols)}>;` : "";
  const v = (k: string) => `u.scale * ${S}_load(off + ${k})`;
  const rowStats = cacheCols
    ? `for (var k = 0u; k < jend; k++) {
      let v = select(${ninf}, ${v("k")}, keep(k, jend, pb));
      vs[rr * u.cols + k] = v;
      m = max(m, v);
    }
    for (var k = 0u; k < jend; k++) {
      let v = vs[rr * u.cols + k];
      let e = select(0.0, exp(v - m), v != ${ninf});
      vs[rr * u.cols + k] = e;
      acc += e;
    }`
    : `for (var k = 0u; k < jend; k++) {
      m = max(m, select(${NEG}, ${v("k")}, keep(k, jend, pb)));
    }
    for (var k = 0u; k < jend; k++) {
      acc += select(0.0, exp(${v("k")} - m), keep(k, jend, pb));
    }`;
  const value = cacheCols
    ? "vs[rr * u.cols + k] * invs[rr]"
    : `select(0.0, exp(u.scale * ${S}_load(e) - mxs[rr]) * invs[rr], keep(k, jends[rr], pbs[rr]))`;
  return {
    name,
    bindings: [
      ...(inPlace ? [] : [{ name: "S", dtype: d.S }]),
      ...(pad ? [{ name: "pad", type: "i32" as const }] : []),
      { name: "P", dtype: d.P, write: true },
    ],
    uniforms: forwardUniforms(true),
    workgroupSize: [ROW_WG],
    prelude: keepWgsl(pad, 1) + "\n" + store2nWgsl("P", d.P),
    body: `${LINEAR_INDEX}
  ${blockHeadWgsl("i", "u.rows")}
  ${cache}
  var mxs: array<f32, 2>;
  var invs: array<f32, 2>;
  var jends: array<u32, 2>;
  var pbs: array<u32, 2>;
  for (var rr = 0u; rr < nr; rr++) {
    let row = r0 + rr;
    let grow = u.rowBase + row;
    let q = grow % u.T;
    let pb = (grow / u.rowsPerBatch) * u.cols;
    let jend = select(u.cols, min(u.cols, q + 1u), u.causal != 0u);
    let off = row * u.cols;
    var m = ${NEG};
    var acc = 0.0;
    ${rowStats}
    mxs[rr] = m;
    invs[rr] = select(1.0 / acc, 0.0, m == ${NEG});
    jends[rr] = jend;
    pbs[rr] = pb;
  }
  ${blockRangeWgsl("u.cols")}
  ${
      rowWordsWgsl({
        out: "P",
        cols: "u.cols",
        start: "0u",
        stride: "1u",
        value: `select(0.0, ${value}, k < jends[rr])`,
      })
    }`,
  };
}

/**
 * Backward, one invocation per row; w = 4 reads vec4 (cols % 4 == 0). With cacheCols = cols > 0
 * (specialised on cols) pass 1 keeps P and dP in private arrays and pass 2 reads no buffer. A
 * 16-bit output with w = 1 takes one invocation per block of `u.rpi` rows and stores words.
 */
function backwardRowSpec(d: Dtypes, w: number, cacheCols: number): KernelSpec {
  const inPlace = !("dS" in d);
  const name = `softmax_bwd_rows${w === 4 ? "_v4" : ""}${cacheCols ? `_c${cacheCols}` : ""}${
    inPlace ? "_inplace" : ""
  }${dtypeSuffix(d)}`;
  return cachedSpec(name, () => backwardRowSpecOf(name, d, w, cacheCols));
}

function backwardRowSpecOf(name: string, d: Dtypes, w: number, cacheCols: number): KernelSpec {
  const inPlace = !("dS" in d);
  const out = outOf("bwd", d);
  const T = w === 4 ? "vec4f" : "f32";
  const width = w as 1 | 4;
  const words = w === 1 && d[out] !== "f32";
  const bindings: KernelSpec["bindings"] = [
    { name: "P", dtype: d.P, width },
    { name: "dP", dtype: d.dP, width, write: inPlace },
    ...(inPlace ? [] : [{ name: "dS", dtype: d.dS, width, write: true }]),
  ];
  if (words) {
    const c = cacheCols * rowsPerBlock(cacheCols);
    return {
      name,
      bindings,
      uniforms: [["rows", "u32"], ["cols", "u32"], ["scale", "f32"], ["rpi", "u32"]],
      workgroupSize: [ROW_WG],
      prelude: store2nWgsl(out, d[out]),
      body: `${LINEAR_INDEX}
  ${blockHeadWgsl("i", "u.rows")}
  ${c ? `var ps: array<f32, ${c}>;\n  var ds: array<f32, ${c}>;` : ""}
  var dots: array<f32, 2>;
  for (var rr = 0u; rr < nr; rr++) {
    let off = (r0 + rr) * u.cols;
    var acc = 0.0;
    for (var k = 0u; k < u.cols; k++) {
      let p = P_load(off + k);
      let d = dP_load(off + k);
      ${c ? "ps[rr * u.cols + k] = p;\n      ds[rr * u.cols + k] = d;" : ""}
      acc += d * p;
    }
    dots[rr] = acc;
  }
  ${blockRangeWgsl("u.cols")}
  ${
        rowWordsWgsl({
          out,
          cols: "u.cols",
          start: "0u",
          stride: "1u",
          value: c
            ? "u.scale * ps[rr * u.cols + k] * (ds[rr * u.cols + k] - dots[rr])"
            : "u.scale * P_load(e) * (dP_load(e) - dots[rr])",
        })
      }`,
    };
  }
  return {
    name,
    bindings,
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
    let p = ${loadW(w, "P", "off + k")};
    let d = ${loadW(w, "dP", "off + k")};
    ${cacheCols ? "ps[k] = p;\n    ds[k] = d;" : ""}
    acc += d * p;
  }
  let dot = ${hsum(w, "acc")};
  for (var k = 0u; k < n; k++) {
    ${
      storeW(
        w,
        out,
        "off + k",
        `u.scale * ${
          cacheCols
            ? "ps[k] * (ds[k]"
            : `${loadW(w, "P", "off + k")} * (${loadW(w, "dP", "off + k")}`
        } - dot)`,
      )
    };
  }`,
  };
}

/**
 * Spans of whole rows whose [rows, cols] ranges (of the operands' dtypes) fit one binding and
 * start aligned; with a 16-bit operand and odd cols the starts are even rows (whole words).
 */
function rowSpans(
  op: string,
  gpu: Gpu,
  rows: number,
  cols: number,
  dtypes: readonly FloatDType[],
  maxBindingBytes?: number,
): Span[] {
  const rowBytes = dtypes.map((d) => elementBytes(d) * cols);
  const unit = alignedItemsOf(gpu, rowBytes), what = `rows of ${cols} keys`;
  const itemBytes = Math.max(...rowBytes);
  return spans(op, gpu, { count: rows, itemBytes, unit, what, maxBindingBytes });
}

/**
 * P = softmax(scale * S) per row, masked entries excluded (probability 0); fully masked rows give
 * zeros. `P` may alias `S` (in place). padMask is bound whole.
 */
export function softmaxForward(enc: Encoder, opts: SoftmaxForwardArgs): void {
  const { P, S, rows, cols } = opts;
  const op = "softmaxForward";
  const dP = needFloat(op, "P", P, rows * cols, enc.gpu);
  const dS = needFloat(op, "S", S, rows * cols, enc.gpu);
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
  const d: Dtypes = inPlace ? { P: dP } : { S: dS, P: dP };
  const kernel = rowKernelFor(gpu.kernels, "softmax", cols), rowWise = kernel === "row";
  const w = rowWise && cols % 4 === 0 ? 4 : 1;
  const cacheCols = cols <= CACHE_MAX_COLS ? cols : 0;
  const spec = rowWise
    ? forwardRowSpec(pad !== null, d, w, cacheCols)
    : forwardSpec(pad !== null, d, kernel === "subgroup");
  // A 16-bit P outside the vec4 kernel is stored by words, in blocks of rpi rows.
  const words = w === 1 && dP !== "f32", rpi = rowsPerBlock(cols);
  for (const ch of rowSpans(op, gpu, rows, cols, Object.values(d), opts.maxBindingBytes)) {
    const range = (t: Tensor): Bindable => spanOf(t, ch, cols, w === 4);
    const b: Record<string, Bindable> = { P: range(P) };
    if (!inPlace) b.S = range(S);
    if (pad) b.pad = pad;
    const u: Record<string, number> = {
      rows: ch.count,
      cols,
      rowBase: ch.first,
      T,
      rowsPerBatch,
      causal: opts.causal ? 1 : 0,
      scale: opts.scale,
    };
    if (words) u.rpi = rpi;
    const items = words ? Math.ceil(ch.count / rpi) : ch.count;
    enc.dispatch(spec, b, u, groups1d(items, rowWise ? ROW_WG : 1));
  }
}

/** What `softmaxBackward` reads and writes. */
export interface SoftmaxBackwardArgs extends ChunkOptions {
  /** [rows, cols] f32, f16 or bf16 output; may alias dP (in place). */
  dS: Tensor;
  /** [rows, cols] f32, f16 or bf16 upstream gradient. */
  dP: Tensor;
  /** [rows, cols] f32, f16 or bf16 forward output. */
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
  const d: Record<string, FloatDType> = {};
  for (const [name, t] of [["P", P], ["dP", dP], ["dS", dS]] as const) {
    d[name] = needFloat(op, name, t, rows * cols, enc.gpu);
  }
  if (dS === P) throw new Error(`${op}: dS aliasing P is unsupported`);
  const gpu = enc.gpu;
  if (!gpu || rows === 0) return;
  const inPlace = dS === dP;
  if (inPlace) delete d.dS;
  const kernel = rowKernelFor(gpu.kernels, "softmax", cols), rowWise = kernel === "row";
  const w = rowWise && cols % 4 === 0 ? 4 : 1;
  const cacheCols = cols <= CACHE_MAX_COLS ? cols : 0;
  const spec = rowWise ? backwardRowSpec(d, w, cacheCols) : backwardSpec(d, kernel === "subgroup");
  const words = w === 1 && d[outOf("bwd", d)] !== "f32", rpi = rowsPerBlock(cols);
  for (const ch of rowSpans(op, gpu, rows, cols, Object.values(d), a.maxBindingBytes)) {
    const range = (t: Tensor): Bindable => spanOf(t, ch, cols, w === 4);
    const b: Record<string, Bindable> = { P: range(P), dP: range(dP) };
    if (!inPlace) b.dS = range(dS);
    const items = words ? Math.ceil(ch.count / rpi) : ch.count;
    const u: Record<string, number> = { rows: ch.count, cols, scale };
    if (words) u.rpi = rpi;
    enc.dispatch(spec, b, u, groups1d(items, rowWise ? ROW_WG : 1));
  }
}

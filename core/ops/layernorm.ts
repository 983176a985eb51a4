/**
 * LayerNorm over rows (baseline: backward keeps the input x, mean and rstd). R rows of C channels
 * (R = N = B*T tokens, C hidden): y = gamma * xhat + beta, xhat = (x - mean) * rstd,
 * rstd = 1 / sqrt(var + eps) with the biased variance (two passes over the row).
 *
 * Row kernels come in three variants, each deterministic, picked by the kernel policy
 * (`layernorm`, also for the Tempo backward): `workgroup`, one workgroup per row reducing in
 * workgroup memory (fixed tree order: real GPUs); `subgroup`, the same kernels reducing with
 * subgroup operations (the hardware's order: GPUs with `subgroups`, `row_reduce_subgroup.ts`);
 * `row`, one invocation per row with no barriers, reading vec4 when C % 4 == 0 (the software
 * adapter: llvmpipe runs a workgroup as a fiber of 8-lane SIMD along x, where barriers and idle
 * lanes cost a lot). The parameter gradients are a column kernel, one invocation per channel
 * (`row`: per 4 channels, vec4) looping over the rows in order (no atomics, no scratch). Operands
 * larger than one storage binding are split into spans of whole rows (multiples of
 * storageAlign / 4 rows, so every offset aligns).
 *
 * The activations x, y, dy, dx are f32, f16 or bf16, each its own; the statistics (mean, rstd),
 * gamma, beta and their gradients stay f32 (as in Apex's and Megatron's fused LayerNorm: the
 * statistics in f32 arithmetic and storage, the output rounded once to its 16-bit dtype). A
 * 16-bit output is written in whole words (`half_kernels.ts`): the vec4 row kernels as in f32,
 * the others word by word in blocks of one row, two when C is odd.
 * @module
 */
import { elementBytes, type FloatDType } from "../dtype.ts";
import { needDtype } from "../dtype_check.ts";
import type { Bindable, Encoder } from "../encoder.ts";
import type { Gpu } from "../gpu.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX, type TypedBindingSpec } from "../kernel.ts";
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

/** Threads per row workgroup (a power of two, a multiple of 8 for the software adapter's lanes). */
export const LN_ROW_WG = 128;
/** Threads per column workgroup. */
export const LN_COL_WG = 64;
/** Invocations per workgroup of the row-per-invocation (software) kernels. */
export const LN_ROWS_WG = 64;
/** Invocations per workgroup of the vec4 column kernel (8: small C still spreads over cores). */
export const LN_COL4_WG = 8;
/**
 * Longest row the row kernels keep in private arrays (sized at compile time: one kernel per C),
 * so that later passes over the row read no buffer (on llvmpipe each buffer load is a per-lane
 * loop with a bounds check; a private array is plain memory: 1.6x for the forward at C = 64).
 * Compile time grows fast with the array (llvmpipe, C = 64: 0.3 s, 256: 1-2.6 s, 768: 13-19 s).
 */
export const LN_CACHE_MAX_C = 128;

/** C when rows of C channels are cached in the row kernels, else 0. */
export function layernormCacheC(C: number): number {
  return C <= LN_CACHE_MAX_C ? C : 0;
}

/**
 * Vector width of the row-per-invocation kernels for C channels on `gpu`: 4 (vec4), 1 (scalar),
 * or 0 when the policy picks the workgroup kernels.
 */
export function layernormWidth(gpu: Gpu, C: number): 0 | 1 | 4 {
  if (rowKernelFor(gpu.kernels, "layernorm", C) !== "row") return 0;
  return C % 4 === 0 ? 4 : 1;
}

/** Whether the workgroup-per-row kernels for C channels on `gpu` reduce with subgroups. */
function layernormSubgroups(gpu: Gpu, C: number): boolean {
  return rowKernelFor(gpu.kernels, "layernorm", C) === "subgroup";
}

/** WGSL: `hsum(v)`, a fixed-order horizontal sum of a width-w value. */
function hsum(w: number, v: string): string {
  return w === 4 ? `(((${v}).x + (${v}).y) + ((${v}).z + (${v}).w))` : `(${v})`;
}

/** WGSL load of element (w = 1) or vec4 (w = 4) `at` of binding `x`, in f32. */
export function loadW(w: number, x: string, at: string): string {
  return w === 4 ? `${x}_load4(${at})` : `${x}_load(${at})`;
}

/** WGSL store of element (w = 1) or vec4 (w = 4) `at` of binding `x`. */
export function storeW(w: number, x: string, at: string, v: string): string {
  return w === 4 ? `${x}_store4(${at}, ${v})` : `${x}_store(${at}, ${v})`;
}

/**
 * WGSL prelude of the row kernels: `row_index(wid, nwg)` and deterministic workgroup sums
 * `wg_sum(v, lidx)` (f32) and `wg_sum2(v, lidx)` (vec2f). Call them from uniform control flow.
 */
export const LN_ROW_PRELUDE = `
var<workgroup> red: array<vec2f, WG_X>;
fn row_index(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }
fn wg_sum2(v: vec2f, lidx: u32) -> vec2f {
  red[lidx] = v;
  workgroupBarrier();
  for (var s = WG_X / 2u; s > 0u; s >>= 1u) {
    if (lidx < s) { red[lidx] += red[lidx + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}
fn wg_sum(v: f32, lidx: u32) -> f32 { return wg_sum2(vec2f(v, 0.0), lidx).x; }
`;

/** LN_ROW_PRELUDE's functions for the `subgroup` kernels (`row_reduce_subgroup.ts`). */
export const LN_ROW_PRELUDE_SUBGROUP = `
fn row_index(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }
${subgroupReduceWgsl("wg_sum2", "vec2f", "add")}
fn wg_sum(v: f32, lidx: u32) -> f32 { return wg_sum2(vec2f(v, 0.0), lidx).x; }
`;

/** The row prelude of the workgroup (`sg` false) or subgroup kernels. */
function rowPrelude(sg: boolean): string {
  return sg ? LN_ROW_PRELUDE_SUBGROUP : LN_ROW_PRELUDE;
}
/**
 * Spans of whole rows such that the [rows, C] ranges of `dtypes` fit `maxBindingBytes` (default
 * gpu.maxBinding); span starts are multiples of storageAlign / 4 rows (so that [rows, C] ranges
 * of every dtype and the [rows] f32 statistics all start aligned; with 16-bit rows of odd C,
 * twice that: whole words).
 */
export function rowSpans(
  op: string,
  gpu: Gpu,
  R: number,
  C: number,
  dtypes: readonly FloatDType[],
  maxBindingBytes?: number,
): Span[] {
  const what = `rows of ${C} channels`;
  const rowBytes = dtypes.map((d) => elementBytes(d) * C);
  return spans(op, gpu, {
    count: R,
    itemBytes: Math.max(...rowBytes),
    unit: alignedItemsOf(gpu, [4, ...rowBytes]),
    what,
    maxBindingBytes,
  });
}

/**
 * The binding of rows [span.first, +count) of a tensor with `width` elements per row; `exact`
 * binds exactly those bytes even for the whole problem (vec4 bindings: whole vec4s).
 */
export function rowRange(t: Tensor, span: Span, width: number, exact = false): Bindable {
  return spanOf(t, span, width, exact);
}

/** The first n f32 of `t` as a binding (exact size when `exact`, else the whole tensor). */
export function headRange(t: Tensor, n: number, exact: boolean): Bindable {
  return exact ? { tensor: t, offset: 0, size: 4 * n } : t;
}

/**
 * Float dtypes of a LayerNorm kernel's [R, C] operands: forward x (absent in place) and y;
 * backward dy, x or y (the source of xhat) and dx (absent in place: dy is overwritten).
 */
export type LnDtypes = Readonly<Record<string, FloatDType>>;

/** What the kernels' xhat expression of an element reads: its row's mean and rstd. */
export interface RowStats {
  /** WGSL of the row's mean (baseline). */
  mean: string;
  /** WGSL of the row's rstd. */
  rs: string;
}

/**
 * WGSL of xhat at element (or vec4) `at` of channel (vec4) `c`, width w: baseline from x, mean and
 * rstd; Tempo from y, beta and gamma.
 */
export type XhatOf = (w: number, at: string, c: string, s: RowStats) => string;

/** The [R] f32 statistics outputs of the forward. */
function statsBindings(withMean: boolean): TypedBindingSpec[] {
  return [
    { name: "rstd", dtype: "f32", write: true },
    ...(withMean ? [{ name: "mean", dtype: "f32", write: true } as const] : []),
  ];
}

function forwardSpec(withMean: boolean, d: LnDtypes, sg: boolean): KernelSpec {
  const inPlace = !("x" in d);
  const name = `layernorm_fwd${sg ? "_sg" : ""}${withMean ? "_mean" : ""}${
    inPlace ? "_inplace" : ""
  }${dtypeSuffix(d)}`;
  return cachedSpec(name, () => {
    const X = inPlace ? "y" : "x";
    const words = d.y !== "f32";
    const stats = `var s = 0.0;
  for (var c = lidx; c < u.C; c += WG_X) { s += ${X}_load(off + c); }
  let mu = wg_sum(s, lidx) / f32(u.C);
  var v = 0.0;
  for (var c = lidx; c < u.C; c += WG_X) { let d = ${X}_load(off + c) - mu; v += d * d; }
  let rs = inverseSqrt(wg_sum(v, lidx) / f32(u.C) + u.eps);
  if (lidx == 0u) {
    rstd_store(row, rs);
    ${withMean ? "mean_store(row, mu);" : ""}
  }`;
    const body = words
      ? `
  ${blockHeadWgsl("row_index(wid, nwg)", "u.R")}
  var mus: array<f32, 2>;
  var rss: array<f32, 2>;
  for (var rr = 0u; rr < nr; rr++) {
    let row = r0 + rr;
    let off = row * u.C;
    ${stats}
    mus[rr] = mu;
    rss[rr] = rs;
  }
  ${blockRangeWgsl("u.C")}
  ${
        rowWordsWgsl({
          out: "y",
          cols: "u.C",
          start: "lidx",
          stride: "WG_X",
          value: `(${X}_load(e) - mus[rr]) * rss[rr] * gamma_load(k) + beta_load(k)`,
        })
      }`
      : `
  let row = row_index(wid, nwg);
  if (row >= u.R) { return; }
  let off = row * u.C;
  ${stats}
  for (var c = lidx; c < u.C; c += WG_X) {
    y_store(off + c, (${X}_load(off + c) - mu) * rs * gamma_load(c) + beta_load(c));
  }`;
    return {
      name,
      bindings: [
        ...(inPlace ? [] : [{ name: "x", dtype: d.x }]),
        { name: "gamma", dtype: "f32" },
        { name: "beta", dtype: "f32" },
        { name: "y", dtype: d.y, write: true },
        ...statsBindings(withMean),
      ],
      uniforms: [["R", "u32"], ["C", "u32"], ["eps", "f32"], ...rpiUniform(words)],
      workgroupSize: [LN_ROW_WG],
      prelude: rowPrelude(sg) + (words ? store2nWgsl("y", d.y) : ""),
      body,
      subgroups: sg,
    };
  });
}

/** The `rpi` uniform (rows per block) of the 16-bit word kernels. */
function rpiUniform(words: boolean): (readonly [string, "u32"])[] {
  return words ? [["rpi", "u32"]] : [];
}

/** Elements of the private row caches of a word kernel: one row, or two for odd C. */
function cacheElems(cacheC: number): number {
  return cacheC * rowsPerBlock(cacheC);
}

/**
 * Forward, one invocation per row, width w (4: vec4 rows and parameters); with cacheC = C > 0
 * the row is read once into a private array (the kernel is specialised on C). A 16-bit y with
 * w = 1 takes one invocation per block of `u.rpi` rows and stores words.
 */
function forwardRowsSpec(withMean: boolean, d: LnDtypes, w: number, cacheC: number): KernelSpec {
  const inPlace = !("x" in d);
  const name = `layernorm_fwd_rows${w === 4 ? "_v4" : ""}${cacheC ? `_c${cacheC}` : ""}${
    withMean ? "_mean" : ""
  }${inPlace ? "_inplace" : ""}${dtypeSuffix(d)}`;
  return cachedSpec(name, () => {
    const X = inPlace ? "y" : "x";
    const T = w === 4 ? "vec4f" : "f32";
    const width = w as 1 | 4;
    const bindings: KernelSpec["bindings"] = [
      ...(inPlace ? [] : [{ name: "x", dtype: d.x, width }]),
      { name: "gamma", dtype: "f32", width },
      { name: "beta", dtype: "f32", width },
      { name: "y", dtype: d.y, width, write: true },
      ...statsBindings(withMean),
    ];
    if (w === 1 && d.y !== "f32") {
      const src = cacheC ? "xs[rr * u.C + c]" : `${X}_load(off + c)`;
      return {
        name,
        bindings,
        uniforms: [["R", "u32"], ["C", "u32"], ["eps", "f32"], ["rpi", "u32"]],
        workgroupSize: [LN_ROWS_WG],
        prelude: store2nWgsl("y", d.y),
        body: `${LINEAR_INDEX}
  ${blockHeadWgsl("i", "u.R")}
  ${cacheC ? `var xs: array<f32, ${cacheElems(cacheC)}>;` : ""}
  var mus: array<f32, 2>;
  var rss: array<f32, 2>;
  for (var rr = 0u; rr < nr; rr++) {
    let row = r0 + rr;
    let off = row * u.C;
    var s = 0.0;
    for (var c = 0u; c < u.C; c++) {
      let xv = ${X}_load(off + c);
      ${cacheC ? "xs[rr * u.C + c] = xv;" : ""}
      s += xv;
    }
    let mu = s / f32(u.C);
    var v = 0.0;
    for (var c = 0u; c < u.C; c++) { let d = ${src} - mu; v += d * d; }
    let rs = inverseSqrt(v / f32(u.C) + u.eps);
    rstd_store(row, rs);
    ${withMean ? "mean_store(row, mu);" : ""}
    mus[rr] = mu;
    rss[rr] = rs;
  }
  ${blockRangeWgsl("u.C")}
  ${
          rowWordsWgsl({
            out: "y",
            cols: "u.C",
            start: "0u",
            stride: "1u",
            value: `(${cacheC ? "xs[rr * u.C + k]" : `${X}_load(e)`} - mus[rr]) * rss[rr] * ` +
              "gamma_load(k) + beta_load(k)",
          })
        }`,
      };
    }
    const src = cacheC ? "xs[c]" : loadW(w, X, "off + c");
    return {
      name,
      bindings,
      uniforms: [["R", "u32"], ["C", "u32"], ["eps", "f32"]],
      workgroupSize: [LN_ROWS_WG],
      body: `${LINEAR_INDEX}
  if (i >= u.R) { return; }
  let n = ${cacheC ? `${cacheC / w}u` : `u.C / ${w}u`};
  let off = i * n;
  ${cacheC ? `var xs: array<${T}, ${cacheC / w}>;` : ""}
  var s = ${T}(0.0);
  for (var c = 0u; c < n; c++) {
    let xv = ${loadW(w, X, "off + c")};
    ${cacheC ? "xs[c] = xv;" : ""}
    s += xv;
  }
  let mu = ${hsum(w, "s")} / f32(u.C);
  var v = ${T}(0.0);
  for (var c = 0u; c < n; c++) { let d = ${src} - mu; v += d * d; }
  let rs = inverseSqrt(${hsum(w, "v")} / f32(u.C) + u.eps);
  rstd_store(i, rs);
  ${withMean ? "mean_store(i, mu);" : ""}
  for (var c = 0u; c < n; c++) {
    ${
        storeW(
          w,
          "y",
          "off + c",
          `(${src} - mu) * rs * ${loadW(w, "gamma", "c")} + ${loadW(w, "beta", "c")}`,
        )
      };
  }`,
    };
  });
}

/** What a backward dx kernel reads besides dy, gamma and rstd, and how it rebuilds xhat. */
export interface DxSources {
  /** Kernel name (the variant and dtype suffixes are appended). */
  name: string;
  /** The [R, C] source of xhat (`x` or `y`) and its per-row or per-channel companions. */
  sources: (w: number, d: LnDtypes) => TypedBindingSpec[];
  /** xhat of an element (see XhatOf). */
  xhat: XhatOf;
  /** Module-scope WGSL the xhat expression needs (per width). */
  prelude: (w: number) => string;
}

/** The written [R, C] binding of a backward dx kernel: dx, or dy in place. */
function dxOut(d: LnDtypes): string {
  return "dx" in d ? "dx" : "dy";
}

/**
 * The backward row kernel, one invocation per row (software adapter), width w (4: [.., C]
 * bindings vec4; `off + c` and `c` then index vec4s). With cacheC = C > 0 the first pass keeps
 * dy * gamma and xhat in private arrays and the second pass reads no buffer (same values: the
 * same bits as without the cache); the kernel is then specialised on C. A 16-bit dx with w = 1
 * takes one invocation per block of `u.rpi` rows and stores words.
 */
export function backwardRowsSpec(src: DxSources, d: LnDtypes, w: number, cacheC = 0): KernelSpec {
  const inPlace = !("dx" in d);
  const full = `${src.name}_rows${w === 4 ? "_v4" : ""}${cacheC ? `_c${cacheC}` : ""}${
    inPlace ? "_inplace" : ""
  }${dtypeSuffix(d)}`;
  return cachedSpec(full, () => {
    const T = w === 4 ? "vec4f" : "f32";
    const width = w as 1 | 4;
    const out = dxOut(d);
    const bindings: KernelSpec["bindings"] = [
      ...(inPlace ? [] : [{ name: "dy", dtype: d.dy, width }]),
      ...src.sources(w, d),
      { name: "gamma", dtype: "f32", width },
      { name: "rstd", dtype: "f32" },
      { name: out, dtype: d[out], width, write: true },
    ];
    if (w === 1 && d[out] !== "f32") {
      const c2 = cacheElems(cacheC);
      const first = src.xhat(1, "off + c", "c", { mean: "mean_load(row)", rs: "rs" });
      const again = src.xhat(1, "e", "k", { mean: "mean_load(r0 + rr)", rs: "rss[rr]" });
      const value = cacheC
        ? "rss[rr] * (gs[rr * u.C + k] - ts[rr].x - xh[rr * u.C + k] * ts[rr].y)"
        : `rss[rr] * (dy_load(e) * gamma_load(k) - ts[rr].x - (${again}) * ts[rr].y)`;
      return {
        name: full,
        bindings,
        uniforms: [["R", "u32"], ["C", "u32"], ["rpi", "u32"]],
        workgroupSize: [LN_ROWS_WG],
        prelude: src.prelude(1) + store2nWgsl(out, d[out]),
        body: `${LINEAR_INDEX}
  ${blockHeadWgsl("i", "u.R")}
  ${cacheC ? `var gs: array<f32, ${c2}>;\n  var xh: array<f32, ${c2}>;` : ""}
  var rss: array<f32, 2>;
  var ts: array<vec2f, 2>;
  for (var rr = 0u; rr < nr; rr++) {
    let row = r0 + rr;
    let off = row * u.C;
    let rs = rstd_load(row);
    var a = 0.0;
    var b = 0.0;
    for (var c = 0u; c < u.C; c++) {
      let g = dy_load(off + c) * gamma_load(c);
      let xhat = ${first};
      ${cacheC ? "gs[rr * u.C + c] = g;\n      xh[rr * u.C + c] = xhat;" : ""}
      a += g;
      b += g * xhat;
    }
    rss[rr] = rs;
    ts[rr] = vec2f(a, b) / f32(u.C);
  }
  ${blockRangeWgsl("u.C")}
  ${rowWordsWgsl({ out, cols: "u.C", start: "0u", stride: "1u", value })}`,
      };
    }
    const xhatOf = src.xhat(w, "off + c", "c", { mean: "mean_load(row)", rs: "rs" });
    const second = cacheC
      ? storeW(w, out, "off + c", "rs * (gs[c] - t.x - xh[c] * t.y)")
      : `let g = ${loadW(w, "dy", "off + c")} * ${loadW(w, "gamma", "c")};
    ${storeW(w, out, "off + c", `rs * (g - t.x - (${xhatOf}) * t.y)`)}`;
    return {
      name: full,
      bindings,
      uniforms: [["R", "u32"], ["C", "u32"]],
      workgroupSize: [LN_ROWS_WG],
      prelude: src.prelude(w),
      body: `${LINEAR_INDEX}
  if (i >= u.R) { return; }
  let row = i;
  let n = ${cacheC ? `${cacheC / w}u` : `u.C / ${w}u`};
  let off = row * n;
  let rs = rstd_load(row);
  ${cacheC ? `var gs: array<${T}, ${cacheC / w}>;\n  var xh: array<${T}, ${cacheC / w}>;` : ""}
  var a = ${T}(0.0);
  var b = ${T}(0.0);
  for (var c = 0u; c < n; c++) {
    let g = ${loadW(w, "dy", "off + c")} * ${loadW(w, "gamma", "c")};
    let xhat = ${xhatOf};
    ${cacheC ? "gs[c] = g;\n    xh[c] = xhat;" : ""}
    a += g;
    b += g * xhat;
  }
  let t = vec2f(${hsum(w, "a")}, ${hsum(w, "b")}) / f32(u.C);
  for (var c = 0u; c < n; c++) {
    ${second};
  }`,
    };
  });
}

/** What a parameter-gradient column kernel reads and how it rebuilds xhat. */
export interface ParamSources {
  /** Kernel name (the variant and dtype suffixes are appended). */
  name: string;
  /** Bindings besides dy, dgamma, dbeta (per width). */
  sources: (w: number, d: LnDtypes) => TypedBindingSpec[];
  /** WGSL of xhat at `off + c` of row `r` (per width), after `hoist`. */
  xhat: (w: number) => string;
  /** Module-scope WGSL (per width). */
  prelude: (w: number) => string;
  /** WGSL statements run once per channel before the row loop (per width), e.g. parameter loads. */
  hoist: (w: number) => string;
}

/**
 * The parameter-gradient column kernel: dgamma[c] += sum_r dy[r,c] * xhat[r,c],
 * dbeta[c] += sum_r dy[r,c], rows in order; one invocation per channel (w = 1) or per 4 channels
 * (w = 4, vec4: each channel sums exactly as with w = 1). dgamma and dbeta are f32, dy and the
 * xhat source any float dtype (they are only read).
 */
export function backwardColSpec(src: ParamSources, d: LnDtypes, w: number): KernelSpec {
  const name = `${src.name}${w === 4 ? "_v4" : ""}${dtypeSuffix(d)}`;
  const width = w as 1 | 4;
  const T = w === 4 ? "vec4f" : "f32";
  return cachedSpec(name, () => ({
    name,
    bindings: [
      { name: "dy", dtype: d.dy, width },
      ...src.sources(w, d),
      { name: "dgamma", dtype: "f32", width, write: true },
      { name: "dbeta", dtype: "f32", width, write: true },
    ],
    uniforms: [["R", "u32"], ["C", "u32"]],
    workgroupSize: [w === 4 ? LN_COL4_WG : LN_COL_WG],
    prelude: src.prelude(w),
    body: `${w === 4 ? LINEAR_INDEX : "let c = gid.x + gid.y * nwg.x * WG_X;"}
  ${
      w === 4
        ? "let n = u.C / 4u;\n  if (i >= n) { return; }\n  let c = i;"
        : "if (c >= u.C) { return; }"
    }
  ${src.hoist(w)}
  var sg = ${T}(0.0);
  var sb = ${T}(0.0);
  for (var r = 0u; r < u.R; r++) {
    let off = r * ${w === 4 ? "n" : "u.C"};
    let d = ${loadW(w, "dy", "off + c")};
    sg += d * (${src.xhat(w)});
    sb += d;
  }
  ${storeW(w, "dgamma", "c", `${loadW(w, "dgamma", "c")} + sg`)};
  ${storeW(w, "dbeta", "c", `${loadW(w, "dbeta", "c")} + sb`)};`,
  }));
}

/**
 * The backward row kernel (workgroup per row): dx = rstd * (dxhat - mean(dxhat) - xhat *
 * mean(dxhat * xhat)), dxhat = dy * gamma. `dx` may alias `dy` (in place). A 16-bit dx makes it
 * one workgroup per block of `u.rpi` rows storing words. `sg`: reduce with subgroups.
 */
export function backwardRowSpec(src: DxSources, d: LnDtypes, sg = false): KernelSpec {
  const inPlace = !("dx" in d);
  const name = `${src.name}${sg ? "_sg" : ""}${inPlace ? "_inplace" : ""}${dtypeSuffix(d)}`;
  return cachedSpec(name, () => {
    const out = dxOut(d);
    const words = d[out] !== "f32";
    const xhatOf = src.xhat(1, "off + c", "c", { mean: "mean_load(row)", rs: "rs" });
    const stats = `let off = row * u.C;
  let rs = rstd_load(row);
  var a = vec2f(0.0);
  for (var c = lidx; c < u.C; c += WG_X) {
    let g = dy_load(off + c) * gamma_load(c);
    a += vec2f(g, g * (${xhatOf}));
  }
  let t = wg_sum2(a, lidx) / f32(u.C);`;
    const again = src.xhat(1, "e", "k", { mean: "mean_load(r0 + rr)", rs: "rss[rr]" });
    const body = words
      ? `
  ${blockHeadWgsl("row_index(wid, nwg)", "u.R")}
  var rss: array<f32, 2>;
  var ts: array<vec2f, 2>;
  for (var rr = 0u; rr < nr; rr++) {
    let row = r0 + rr;
    ${stats}
    rss[rr] = rs;
    ts[rr] = t;
  }
  ${blockRangeWgsl("u.C")}
  ${
        rowWordsWgsl({
          out,
          cols: "u.C",
          start: "lidx",
          stride: "WG_X",
          value: `rss[rr] * (dy_load(e) * gamma_load(k) - ts[rr].x - (${again}) * ts[rr].y)`,
        })
      }`
      : `
  let row = row_index(wid, nwg);
  if (row >= u.R) { return; }
  ${stats}
  for (var c = lidx; c < u.C; c += WG_X) {
    let g = dy_load(off + c) * gamma_load(c);
    ${out}_store(off + c, rs * (g - t.x - (${xhatOf}) * t.y));
  }`;
    return {
      name,
      bindings: [
        ...(inPlace ? [] : [{ name: "dy", dtype: d.dy }]),
        ...src.sources(1, d),
        { name: "gamma", dtype: "f32" },
        { name: "rstd", dtype: "f32" },
        { name: out, dtype: d[out], write: true },
      ],
      uniforms: [["R", "u32"], ["C", "u32"], ...rpiUniform(words)],
      workgroupSize: [LN_ROW_WG],
      prelude: rowPrelude(sg) + src.prelude(1) + (words ? store2nWgsl(out, d[out]) : ""),
      body,
      subgroups: sg,
    };
  });
}

/** The baseline's xhat = (x - mean) * rstd. */
const BASE_XHAT: XhatOf = (w, at, _c, s) => `(${loadW(w, "x", at)} - ${s.mean}) * ${s.rs}`;

/** The baseline dx kernels' sources: x [R, C] and mean [R]. */
const BASE_DX: DxSources = {
  name: "layernorm_bwd_dx",
  sources: (w, d) => [{ name: "x", dtype: d.x, width: w as 1 | 4 }, { name: "mean", dtype: "f32" }],
  xhat: BASE_XHAT,
  prelude: () => "",
};

/** The baseline parameter-gradient kernels' sources: x, mean and rstd. */
const BASE_PARAMS: ParamSources = {
  name: "layernorm_bwd_params",
  sources: (w, d) => [
    { name: "x", dtype: d.x, width: w as 1 | 4 },
    { name: "mean", dtype: "f32" },
    { name: "rstd", dtype: "f32" },
  ],
  xhat: (w) => BASE_XHAT(w, "off + c", "c", { mean: "mean_load(r)", rs: "rstd_load(r)" }),
  prelude: () => "",
  hoist: () => "",
};

/** What `layernormForward` reads and writes. */
export interface LayernormForwardArgs extends ChunkOptions {
  /** [R, C] f32, f16 or bf16 output; may alias x (in place). */
  y: Tensor;
  /** [R] f32 output, or null when not needed (Tempo keeps only rstd). */
  mean: Tensor | null;
  /** [R] f32 output, 1 / sqrt(var + eps). */
  rstd: Tensor;
  /** [R, C] f32, f16 or bf16 input. */
  x: Tensor;
  /** [C] f32 scale. */
  gamma: Tensor;
  /** [C] f32 shift. */
  beta: Tensor;
  /** Rows (N = B*T tokens). */
  R: number;
  /** Channels. */
  C: number;
  /** Added to the variance. */
  eps: number;
}

/** The f32-only operands (statistics, parameters and their gradients) of a LayerNorm op. */
export function needParams(
  op: string,
  rows: readonly (readonly [string, Tensor | null])[],
  channels: readonly (readonly [string, Tensor])[],
  R: number,
  C: number,
): void {
  for (const [name, t] of rows) if (t) needDtype(op, name, t, ["f32"], R);
  for (const [name, t] of channels) needDtype(op, name, t, ["f32"], C);
}

/** LayerNorm forward over R rows of C channels. `y` may alias `x` (in place). */
export function layernormForward(enc: Encoder, a: LayernormForwardArgs): void {
  const { y, mean, rstd, x, gamma, beta, R, C, eps } = a;
  const op = "layernormForward";
  const dy = needFloat(op, "y", y, R * C, enc.gpu);
  const dx = needFloat(op, "x", x, R * C, enc.gpu);
  needParams(op, [["rstd", rstd], ["mean", mean]], [["gamma", gamma], ["beta", beta]], R, C);
  const gpu = enc.gpu;
  if (!gpu || R === 0) return;
  const inPlace = y === x;
  const d: LnDtypes = inPlace ? { y: dy } : { x: dx, y: dy };
  const w = layernormWidth(gpu, C);
  const spec = w
    ? forwardRowsSpec(mean !== null, d, w, layernormCacheC(C))
    : forwardSpec(mean !== null, d, layernormSubgroups(gpu, C));
  const v4 = w === 4;
  // A 16-bit y outside the vec4 kernel is stored by words, in blocks of rpi rows.
  const words = w !== 4 && dy !== "f32", rpi = rowsPerBlock(C);
  for (const ch of rowSpans(op, gpu, R, C, [dx, dy], a.maxBindingBytes)) {
    const b: Record<string, Bindable> = {
      gamma: headRange(gamma, C, v4),
      beta: headRange(beta, C, v4),
      y: rowRange(y, ch, C, v4),
      rstd: rowRange(rstd, ch, 1),
    };
    if (!inPlace) b.x = rowRange(x, ch, C, v4);
    if (mean) b.mean = rowRange(mean, ch, 1);
    const u: Record<string, number> = { R: ch.count, C, eps };
    if (words) u.rpi = rpi;
    const items = words ? Math.ceil(ch.count / rpi) : ch.count;
    enc.dispatch(spec, b, u, groups1d(items, w ? LN_ROWS_WG : 1));
  }
}

/** What `layernormBackward` reads, writes and accumulates into. */
export interface LayernormBackwardArgs extends ChunkOptions {
  /** [R, C] f32, f16 or bf16 output; may alias dy (in place). */
  dx: Tensor;
  /** [C] f32, accumulated. */
  dgamma: Tensor;
  /** [C] f32, accumulated. */
  dbeta: Tensor;
  /** [R, C] f32, f16 or bf16 upstream gradient. */
  dy: Tensor;
  /** [R, C] f32, f16 or bf16 forward input. */
  x: Tensor;
  /** [R] f32 forward mean. */
  mean: Tensor;
  /** [R] f32 forward rstd. */
  rstd: Tensor;
  /** [C] f32 scale. */
  gamma: Tensor;
  /** Rows. */
  R: number;
  /** Channels. */
  C: number;
}

/** What `runBackward` dispatches: the two kernels' sources and bindings of one backward. */
export interface BackwardRun {
  /** The op's name (errors). */
  op: string;
  /** dx kernels' sources. */
  dx: DxSources;
  /** Parameter-gradient kernels' sources. */
  params: ParamSources;
  /** Dtypes of dy, dx and the xhat source (`x` or `y`), by binding name. */
  dtypes: Record<string, FloatDType>;
  /** [R, C] tensors by binding name (dy, x or y); dx separately. */
  rows: Record<string, Tensor>;
  /** [R] tensors by binding name (rstd, mean). */
  stats: Record<string, Tensor>;
  /** [C] f32 parameters read by the kernels, by binding name. */
  channels: Record<string, Tensor>;
}

/**
 * Dispatch a LayerNorm backward (baseline or Tempo): the parameter gradients first (column
 * kernel over every span), then dx (row kernel; it may overwrite dy). Shared by
 * `layernormBackward` and `layernormTempoBackward`.
 */
export function runBackward(
  enc: Encoder,
  run: BackwardRun,
  grads: { dx: Tensor; dgamma: Tensor; dbeta: Tensor; R: number; C: number } & ChunkOptions,
): void {
  const { dx, dgamma, dbeta, R, C } = grads;
  const gpu = enc.gpu;
  if (!gpu || R === 0) return;
  const dy = run.rows.dy;
  const inPlace = dx === dy;
  const dtypes: Record<string, FloatDType> = { ...run.dtypes };
  const colDtypes = { ...dtypes };
  delete colDtypes.dx;
  if (inPlace) delete dtypes.dx;
  const w = layernormWidth(gpu, C), v4 = w === 4;
  const col = backwardColSpec(run.params, colDtypes, v4 ? 4 : 1);
  const row = w
    ? backwardRowsSpec(run.dx, dtypes, w, layernormCacheC(C))
    : backwardRowSpec(run.dx, dtypes, layernormSubgroups(gpu, C));
  const out = inPlace ? "dy" : "dx";
  const words = w !== 4 && dtypes[out] !== "f32", rpi = rowsPerBlock(C);
  const all = Object.values(run.dtypes);
  const chunks = rowSpans(run.op, gpu, R, C, all, grads.maxBindingBytes);
  const channels = (names: readonly string[]): Record<string, Bindable> => {
    const b: Record<string, Bindable> = {};
    for (const k of names) b[k] = headRange(run.channels[k], C, v4);
    return b;
  };
  const span = (ch: Span, names: Record<string, Tensor>): Record<string, Bindable> => {
    const b: Record<string, Bindable> = {};
    for (const [k, t] of Object.entries(names)) b[k] = rowRange(t, ch, C, v4);
    for (const [k, t] of Object.entries(run.stats)) b[k] = rowRange(t, ch, 1);
    return b;
  };
  const colNames = col.bindings.map((b) => b.name);
  for (const ch of chunks) {
    const b = span(ch, run.rows);
    Object.assign(b, channels(colNames.filter((k) => k in run.channels)));
    b.dgamma = headRange(dgamma, C, v4);
    b.dbeta = headRange(dbeta, C, v4);
    for (const k of Object.keys(b)) if (!colNames.includes(k)) delete b[k];
    const g = v4 ? groups1d(C / 4, LN_COL4_WG) : groups1d(C, LN_COL_WG);
    enc.dispatch(col, b, { R: ch.count, C }, g);
  }
  const rowNames = row.bindings.map((b) => b.name);
  for (const ch of chunks) {
    const b = span(ch, run.rows);
    Object.assign(b, channels(rowNames.filter((k) => k in run.channels)));
    if (!inPlace) b.dx = rowRange(dx, ch, C, v4);
    for (const k of Object.keys(b)) if (!rowNames.includes(k)) delete b[k];
    const u: Record<string, number> = { R: ch.count, C };
    if (words) u.rpi = rpi;
    const items = words ? Math.ceil(ch.count / rpi) : ch.count;
    enc.dispatch(row, b, u, groups1d(items, w ? LN_ROWS_WG : 1));
  }
}

/**
 * LayerNorm backward from the input (baseline). dx is written; dgamma and dbeta are ACCUMULATED
 * (+=) in a fixed row order. `dx` may alias `dy` (in place: the parameter gradients are taken
 * first).
 */
export function layernormBackward(enc: Encoder, a: LayernormBackwardArgs): void {
  const { dx, dgamma, dbeta, dy, x, mean, rstd, gamma, R, C } = a;
  const op = "layernormBackward";
  const dtypes = {
    dy: needFloat(op, "dy", dy, R * C, enc.gpu),
    x: needFloat(op, "x", x, R * C, enc.gpu),
    dx: needFloat(op, "dx", dx, R * C, enc.gpu),
  };
  needParams(
    op,
    [["mean", mean], ["rstd", rstd]],
    [["dgamma", dgamma], ["dbeta", dbeta], ["gamma", gamma]],
    R,
    C,
  );
  if (dx === x) throw new Error(`${op}: dx aliasing x is unsupported`);
  runBackward(enc, {
    op,
    dx: BASE_DX,
    params: BASE_PARAMS,
    dtypes,
    rows: { dy, x },
    stats: { mean, rstd },
    channels: { gamma },
  }, a);
}

/**
 * LayerNorm over rows (baseline: backward keeps the input x, mean and rstd). R rows of C channels
 * (R = N = B*T tokens, C hidden): y = gamma * xhat + beta, xhat = (x - mean) * rstd,
 * rstd = 1 / sqrt(var + eps) with the biased variance (two passes over the row).
 *
 * Row kernels come in two variants, both with a fixed summation order (deterministic), picked by
 * the kernel policy (`layernorm`, also for the Tempo backward): `workgroup`, one workgroup per
 * row reducing in workgroup memory (fixed tree order: real GPUs); `row`, one invocation per row
 * with no barriers, reading vec4 when C % 4 == 0 (the software adapter: llvmpipe runs a
 * workgroup as a fiber of 8-lane SIMD along x, where barriers and idle lanes cost a lot). The
 * parameter gradients are a column kernel, one invocation per channel (`row`: per 4 channels,
 * vec4) looping over the rows in order (no atomics, no scratch). Operands larger than one storage
 * binding are split into spans of whole rows (multiples of storageAlign / 4 rows, so every
 * offset aligns).
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

/** WGSL: `hsum(v)`, a fixed-order horizontal sum of a width-w value. */
function hsum(w: number, v: string): string {
  return w === 4 ? `(((${v}).x + (${v}).y) + ((${v}).z + (${v}).w))` : `(${v})`;
}

/** Element type of a [.., C] binding in a width-w kernel. */
export function elemOf(w: number): "f32" | "vec4<f32>" {
  return w === 4 ? "vec4<f32>" : "f32";
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

/**
 * Spans of whole rows such that a [rows, C] f32 range fits `maxBindingBytes` (default
 * gpu.maxBinding); span starts are multiples of storageAlign / 4 rows, so [rows, C] and [rows]
 * f32 ranges both start aligned.
 */
export function rowSpans(
  op: string,
  gpu: Gpu,
  R: number,
  C: number,
  maxBindingBytes?: number,
): Span[] {
  const what = `rows of ${C} channels`;
  return spans(op, gpu, {
    count: R,
    itemBytes: 4 * C,
    unit: alignedItems(gpu, 4),
    what,
    maxBindingBytes,
  });
}

/**
 * The binding of rows [span.first, +count) of a tensor with `width` f32 per row; `exact` binds
 * exactly those bytes even for the whole problem (vec4 bindings: a multiple of 16 bytes).
 */
export function rowRange(t: Tensor, span: Span, width: number, exact = false): Bindable {
  return spanRange(t, span, 4 * width, exact);
}

/** The first n f32 of `t` as a binding (exact size when `exact`, else the whole tensor). */
export function headRange(t: Tensor, n: number, exact: boolean): Bindable {
  return exact ? { tensor: t, offset: 0, size: 4 * n } : t;
}

function forwardSpec(withMean: boolean, inPlace: boolean): KernelSpec {
  const name = `layernorm_fwd${withMean ? "_mean" : ""}${inPlace ? "_inplace" : ""}`;
  return cachedSpec(name, () => {
    const X = inPlace ? "y" : "x";
    return {
      name,
      bindings: [
        ...(inPlace ? [] : [{ name: "x", type: "f32" as const }]),
        { name: "gamma", type: "f32" },
        { name: "beta", type: "f32" },
        { name: "y", type: "f32", write: true },
        { name: "rstd", type: "f32", write: true },
        ...(withMean ? [{ name: "mean", type: "f32" as const, write: true }] : []),
      ],
      uniforms: [["R", "u32"], ["C", "u32"], ["eps", "f32"]],
      workgroupSize: [LN_ROW_WG],
      prelude: LN_ROW_PRELUDE,
      body: `
  let row = row_index(wid, nwg);
  if (row >= u.R) { return; }
  let off = row * u.C;
  var s = 0.0;
  for (var c = lidx; c < u.C; c += WG_X) { s += ${X}[off + c]; }
  let mu = wg_sum(s, lidx) / f32(u.C);
  var v = 0.0;
  for (var c = lidx; c < u.C; c += WG_X) { let d = ${X}[off + c] - mu; v += d * d; }
  let rs = inverseSqrt(wg_sum(v, lidx) / f32(u.C) + u.eps);
  if (lidx == 0u) {
    rstd[row] = rs;
    ${withMean ? "mean[row] = mu;" : ""}
  }
  for (var c = lidx; c < u.C; c += WG_X) {
    y[off + c] = (${X}[off + c] - mu) * rs * gamma[c] + beta[c];
  }`,
    };
  });
}

/**
 * Forward, one invocation per row, width w (4: vec4 rows and parameters); with cacheC = C > 0
 * the row is read once into a private array (the kernel is specialised on C).
 */
function forwardRowsSpec(
  withMean: boolean,
  inPlace: boolean,
  w: number,
  cacheC: number,
): KernelSpec {
  const name = `layernorm_fwd_rows${w === 4 ? "_v4" : ""}${cacheC ? `_c${cacheC}` : ""}${
    withMean ? "_mean" : ""
  }${inPlace ? "_inplace" : ""}`;
  return cachedSpec(name, () => {
    const X = inPlace ? "y" : "x";
    const T = w === 4 ? "vec4f" : "f32";
    const type = elemOf(w);
    const src = cacheC ? "xs[c]" : `${X}[off + c]`;
    return {
      name,
      bindings: [
        ...(inPlace ? [] : [{ name: "x", type }]),
        { name: "gamma", type },
        { name: "beta", type },
        { name: "y", type, write: true },
        { name: "rstd", type: "f32", write: true },
        ...(withMean ? [{ name: "mean", type: "f32" as const, write: true }] : []),
      ],
      uniforms: [["R", "u32"], ["C", "u32"], ["eps", "f32"]],
      workgroupSize: [LN_ROWS_WG],
      body: `${LINEAR_INDEX}
  if (i >= u.R) { return; }
  let n = ${cacheC ? `${cacheC / w}u` : `u.C / ${w}u`};
  let off = i * n;
  ${cacheC ? `var xs: array<${T}, ${cacheC / w}>;` : ""}
  var s = ${T}(0.0);
  for (var c = 0u; c < n; c++) {
    let xv = ${X}[off + c];
    ${cacheC ? "xs[c] = xv;" : ""}
    s += xv;
  }
  let mu = ${hsum(w, "s")} / f32(u.C);
  var v = ${T}(0.0);
  for (var c = 0u; c < n; c++) { let d = ${src} - mu; v += d * d; }
  let rs = inverseSqrt(${hsum(w, "v")} / f32(u.C) + u.eps);
  rstd[i] = rs;
  ${withMean ? "mean[i] = mu;" : ""}
  for (var c = 0u; c < n; c++) {
    y[off + c] = (${src} - mu) * rs * gamma[c] + beta[c];
  }`,
    };
  });
}

/**
 * The backward row kernel, one invocation per row (software adapter), width w: `sources`,
 * `xhatOf` and `prelude` as in `backwardRowSpec` but typed for width w ([.., C] bindings vec4
 * when w = 4; `off + c` and `c` then index vec4s). With cacheC = C > 0 the first pass keeps
 * dy * gamma and xhat in private arrays and the second pass reads no buffer (same values: the
 * same bits as without the cache); the kernel is then specialised on C.
 */
export function backwardRowsSpec(
  name: string,
  sources: KernelSpec["bindings"],
  xhatOf: string,
  prelude: string,
  inPlace: boolean,
  w: number,
  cacheC = 0,
): KernelSpec {
  const full = `${name}_rows${w === 4 ? "_v4" : ""}${cacheC ? `_c${cacheC}` : ""}${
    inPlace ? "_inplace" : ""
  }`;
  return cachedSpec(full, () => {
    const T = w === 4 ? "vec4f" : "f32";
    const type = elemOf(w);
    const out = inPlace ? "dy" : "dx";
    const second = cacheC
      ? `${out}[off + c] = rs * (gs[c] - t.x - xh[c] * t.y);`
      : `let g = dy[off + c] * gamma[c];
    ${out}[off + c] = rs * (g - t.x - (${xhatOf}) * t.y);`;
    return {
      name: full,
      bindings: [
        ...(inPlace ? [] : [{ name: "dy", type }]),
        ...sources,
        { name: "gamma", type },
        { name: "rstd", type: "f32" },
        { name: inPlace ? "dy" : "dx", type, write: true },
      ],
      uniforms: [["R", "u32"], ["C", "u32"]],
      workgroupSize: [LN_ROWS_WG],
      prelude,
      body: `${LINEAR_INDEX}
  if (i >= u.R) { return; }
  let row = i;
  let n = ${cacheC ? `${cacheC / w}u` : `u.C / ${w}u`};
  let off = row * n;
  let rs = rstd[row];
  ${cacheC ? `var gs: array<${T}, ${cacheC / w}>;\n  var xh: array<${T}, ${cacheC / w}>;` : ""}
  var a = ${T}(0.0);
  var b = ${T}(0.0);
  for (var c = 0u; c < n; c++) {
    let g = dy[off + c] * gamma[c];
    let xhat = ${xhatOf};
    ${cacheC ? "gs[c] = g;\n    xh[c] = xhat;" : ""}
    a += g;
    b += g * xhat;
  }
  let t = vec2f(${hsum(w, "a")}, ${hsum(w, "b")}) / f32(u.C);
  for (var c = 0u; c < n; c++) {
    ${second}
  }`,
    };
  });
}

/**
 * The parameter-gradient column kernel of width 4: one invocation per 4 channels (vec4), rows in
 * order, so each channel sums exactly as in `backwardColSpec`. `xhatOf` is a WGSL expression of
 * `off + c` (vec4 index), `c`, `r` and what `hoist` (WGSL statements run once before the row loop,
 * e.g. loads of per-channel parameters) defines; `sources` typed for vec4.
 */
export function backwardCol4Spec(
  name: string,
  sources: KernelSpec["bindings"],
  xhatOf: string,
  prelude: string,
  hoist = "",
): KernelSpec {
  return cachedSpec(`${name}_v4`, () => ({
    name: `${name}_v4`,
    bindings: [
      { name: "dy", type: "vec4<f32>" },
      ...sources,
      { name: "dgamma", type: "vec4<f32>", write: true },
      { name: "dbeta", type: "vec4<f32>", write: true },
    ],
    uniforms: [["R", "u32"], ["C", "u32"]],
    workgroupSize: [LN_COL4_WG],
    prelude,
    body: `${LINEAR_INDEX}
  let n = u.C / 4u;
  if (i >= n) { return; }
  let c = i;
  ${hoist}
  var sg = vec4f(0.0);
  var sb = vec4f(0.0);
  for (var r = 0u; r < u.R; r++) {
    let off = r * n;
    let d = dy[off + c];
    sg += d * (${xhatOf});
    sb += d;
  }
  dgamma[c] += sg;
  dbeta[c] += sb;`,
  }));
}

/**
 * The backward row kernel: dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),
 * dxhat = dy * gamma, with `xhatOf` a WGSL expression of `off + c`, `c` and `row` (baseline:
 * from x, mean, rstd; Tempo: from y, beta, gamma). `dx` may alias `dy` (inPlace).
 */
export function backwardRowSpec(
  name: string,
  sources: KernelSpec["bindings"],
  xhatOf: string,
  prelude: string,
  inPlace: boolean,
): KernelSpec {
  return cachedSpec(`${name}${inPlace ? "_inplace" : ""}`, () => ({
    name: `${name}${inPlace ? "_inplace" : ""}`,
    bindings: [
      ...(inPlace ? [] : [{ name: "dy", type: "f32" as const }]),
      ...sources,
      { name: "gamma", type: "f32" },
      { name: "rstd", type: "f32" },
      { name: inPlace ? "dy" : "dx", type: "f32", write: true },
    ],
    uniforms: [["R", "u32"], ["C", "u32"]],
    workgroupSize: [LN_ROW_WG],
    prelude: LN_ROW_PRELUDE + prelude,
    body: `
  let row = row_index(wid, nwg);
  if (row >= u.R) { return; }
  let off = row * u.C;
  let rs = rstd[row];
  var a = vec2f(0.0);
  for (var c = lidx; c < u.C; c += WG_X) {
    let g = dy[off + c] * gamma[c];
    a += vec2f(g, g * (${xhatOf}));
  }
  let t = wg_sum2(a, lidx) / f32(u.C);
  for (var c = lidx; c < u.C; c += WG_X) {
    let g = dy[off + c] * gamma[c];
    ${inPlace ? "dy" : "dx"}[off + c] = rs * (g - t.x - (${xhatOf}) * t.y);
  }`,
  }));
}

/**
 * The parameter-gradient column kernel: dgamma[c] += sum_r dy[r,c] * xhat[r,c],
 * dbeta[c] += sum_r dy[r,c], rows in order; `xhatOf` a WGSL expression of `r * u.C + c`, `c`, `r`.
 */
export function backwardColSpec(
  name: string,
  sources: KernelSpec["bindings"],
  xhatOf: string,
  prelude: string,
): KernelSpec {
  return cachedSpec(name, () => ({
    name,
    bindings: [
      { name: "dy", type: "f32" },
      ...sources,
      { name: "dgamma", type: "f32", write: true },
      { name: "dbeta", type: "f32", write: true },
    ],
    uniforms: [["R", "u32"], ["C", "u32"]],
    workgroupSize: [LN_COL_WG],
    prelude,
    body: `
  let c = gid.x + gid.y * nwg.x * WG_X;
  if (c >= u.C) { return; }
  var sg = 0.0;
  var sb = 0.0;
  for (var r = 0u; r < u.R; r++) {
    let off = r * u.C;
    let d = dy[off + c];
    sg += d * (${xhatOf});
    sb += d;
  }
  dgamma[c] += sg;
  dbeta[c] += sb;`,
  }));
}

const BASE_SOURCES: KernelSpec["bindings"] = [
  { name: "x", type: "f32" },
  { name: "mean", type: "f32" },
];
const BASE_ROW_XHAT = "(x[off + c] - mean[row]) * rs";
const BASE_COL_XHAT = "(x[off + c] - mean[r]) * rstd[r]";
const BASE_COL_SOURCES: KernelSpec["bindings"] = [...BASE_SOURCES, { name: "rstd", type: "f32" }];
const BASE_SOURCES4: KernelSpec["bindings"] = [
  { name: "x", type: "vec4<f32>" },
  { name: "mean", type: "f32" },
];
const BASE_COL_SOURCES4: KernelSpec["bindings"] = [
  ...BASE_SOURCES4,
  { name: "rstd", type: "f32" },
];

/** What `layernormForward` reads and writes. */
export interface LayernormForwardArgs extends ChunkOptions {
  /** [R, C] f32 output; may alias x (in place). */
  y: Tensor;
  /** [R] f32 output, or null when not needed (Tempo keeps only rstd). */
  mean: Tensor | null;
  /** [R] f32 output, 1 / sqrt(var + eps). */
  rstd: Tensor;
  /** [R, C] f32 input. */
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

/** LayerNorm forward over R rows of C channels. `y` may alias `x` (in place). */
export function layernormForward(enc: Encoder, a: LayernormForwardArgs): void {
  const { y, mean, rstd, x, gamma, beta, R, C, eps } = a;
  const op = "layernormForward";
  needF32(op, "y", y, R * C);
  needF32(op, "x", x, R * C);
  needF32(op, "rstd", rstd, R);
  if (mean) needF32(op, "mean", mean, R);
  needF32(op, "gamma", gamma, C);
  needF32(op, "beta", beta, C);
  const gpu = enc.gpu;
  if (!gpu || R === 0) return;
  const inPlace = y === x;
  const w = layernormWidth(gpu, C);
  const spec = w
    ? forwardRowsSpec(mean !== null, inPlace, w, layernormCacheC(C))
    : forwardSpec(mean !== null, inPlace);
  const v4 = w === 4;
  for (const ch of rowSpans(op, gpu, R, C, a.maxBindingBytes)) {
    const b: Record<string, Bindable> = {
      gamma: headRange(gamma, C, v4),
      beta: headRange(beta, C, v4),
      y: rowRange(y, ch, C, v4),
      rstd: rowRange(rstd, ch, 1),
    };
    if (!inPlace) b.x = rowRange(x, ch, C, v4);
    if (mean) b.mean = rowRange(mean, ch, 1);
    enc.dispatch(spec, b, { R: ch.count, C, eps }, groups1d(ch.count, w ? LN_ROWS_WG : 1));
  }
}

/** What `layernormBackward` reads, writes and accumulates into. */
export interface LayernormBackwardArgs extends ChunkOptions {
  /** [R, C] f32 output; may alias dy (in place). */
  dx: Tensor;
  /** [C] f32, accumulated. */
  dgamma: Tensor;
  /** [C] f32, accumulated. */
  dbeta: Tensor;
  /** [R, C] f32 upstream gradient. */
  dy: Tensor;
  /** [R, C] f32 forward input. */
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

/**
 * LayerNorm backward from the input (baseline). dx is written; dgamma and dbeta are ACCUMULATED
 * (+=) in a fixed row order. `dx` may alias `dy` (in place: the parameter gradients are taken
 * first).
 */
export function layernormBackward(enc: Encoder, a: LayernormBackwardArgs): void {
  const { dx, dgamma, dbeta, dy, x, mean, rstd, gamma, R, C } = a;
  const op = "layernormBackward";
  for (const [name, t, n] of [["dx", dx, R * C], ["dy", dy, R * C], ["x", x, R * C]] as const) {
    needF32(op, name, t, n);
  }
  needF32(op, "mean", mean, R);
  needF32(op, "rstd", rstd, R);
  for (const [name, t] of [["dgamma", dgamma], ["dbeta", dbeta], ["gamma", gamma]] as const) {
    needF32(op, name, t, C);
  }
  if (dx === x) throw new Error(`${op}: dx aliasing x is unsupported`);
  const gpu = enc.gpu;
  if (!gpu || R === 0) return;
  const inPlace = dx === dy;
  const w = layernormWidth(gpu, C), v4 = w === 4;
  const col = v4
    ? backwardCol4Spec("layernorm_bwd_params", BASE_COL_SOURCES4, BASE_COL_XHAT, "")
    : backwardColSpec("layernorm_bwd_params", BASE_COL_SOURCES, BASE_COL_XHAT, "");
  const row = w
    ? backwardRowsSpec(
      "layernorm_bwd_dx",
      v4 ? BASE_SOURCES4 : BASE_SOURCES,
      BASE_ROW_XHAT,
      "",
      inPlace,
      w,
      layernormCacheC(C),
    )
    : backwardRowSpec("layernorm_bwd_dx", BASE_SOURCES, BASE_ROW_XHAT, "", inPlace);
  const chunks = rowSpans(op, gpu, R, C, a.maxBindingBytes);
  for (const ch of chunks) {
    const b = {
      dy: rowRange(dy, ch, C, v4),
      x: rowRange(x, ch, C, v4),
      mean: rowRange(mean, ch, 1),
      rstd: rowRange(rstd, ch, 1),
      dgamma: headRange(dgamma, C, v4),
      dbeta: headRange(dbeta, C, v4),
    };
    const g = v4 ? groups1d(C / 4, LN_COL4_WG) : groups1d(C, LN_COL_WG);
    enc.dispatch(col, b, { R: ch.count, C }, g);
  }
  for (const ch of chunks) {
    const b: Record<string, Bindable> = {
      dy: rowRange(dy, ch, C, v4),
      x: rowRange(x, ch, C, v4),
      mean: rowRange(mean, ch, 1),
      rstd: rowRange(rstd, ch, 1),
      gamma: headRange(gamma, C, v4),
    };
    if (!inPlace) b.dx = rowRange(dx, ch, C, v4);
    enc.dispatch(row, b, { R: ch.count, C }, groups1d(ch.count, w ? LN_ROWS_WG : 1));
  }
}

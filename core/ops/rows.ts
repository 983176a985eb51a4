/**
 * Row addressing of [rows, C] tensors: a gather (out[m] = x[positions[m]]) and a
 * deterministic scatter-add (the gather's backward), chunked over rows (`chunksOf`) when an
 * operand exceeds one storage binding. The MLM head gathers the hidden states at the M masked
 * positions from [N, C].
 *
 * Index tensors (positions / ids, [M] or [N] i32) are bound whole: they must fit one binding
 * (fewer than 33.5M rows at 128 MiB). Big operands are split by rows into TensorRanges.
 * Row operands are f32, f16 or bf16, each its own (the embedding gathers 16-bit rows from an f32
 * table); copies go through f32 (exact between equal dtypes), sums are f32 rounded once per
 * element. A 16-bit output needs an even C (each invocation then writes pairs or vec4s).
 * @module
 */
import type { FloatDType } from "../dtype.ts";
import type { Encoder, TensorRange } from "../encoder.ts";
import { DTypeError } from "../errors.ts";
import type { Gpu } from "../gpu.ts";
import { groups1d, type KernelSpec, type TypedBindingSpec } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needFloat, needI32 } from "./checks.ts";
import { type ChunkOptions, chunksOf } from "./chunking.ts";
import { dtypeSuffix } from "./half_kernels.ts";

/**
 * `r` widened to a multiple of 16 bytes, for a READ-ONLY vec4 binding whose last vec4 is partial
 * (the kernel must ignore the extra lanes). The extra bytes (at most 12) lie inside the buffer:
 * buffers are pooled in 256-byte multiples and views start 256-aligned. Throws if they do not.
 */
export function widenTo16(r: TensorRange): TensorRange {
  const size = Math.ceil(r.size / 16) * 16;
  const viewOffset = (r.tensor as { offset?: number }).offset ?? 0;
  const room = r.tensor.gpu.size - viewOffset - r.offset;
  if (size > room) {
    throw new Error(`widenTo16: ${r.tensor} has no room for a vec4 read past its end; unsupported`);
  }
  return { ...r, size };
}

/** WGSL element type and zero of the f32 or vec4<f32> variant of a row kernel. */
export function rowType(vec4: boolean): { T: "f32" | "vec4<f32>"; zero: string; suffix: string } {
  return vec4
    ? { T: "vec4<f32>", zero: "vec4<f32>()", suffix: "vec4" }
    : { T: "f32", zero: "0.0", suffix: "f32" };
}

/**
 * Whether rows of C f32 can be accessed as vec4 (1.3-1.5x faster on the software adapter): every
 * chunk base is then a multiple of 4 elements, because offsets are multiples of 16 bytes.
 */
export function useVec4(gpu: Gpu, C: number): boolean {
  return C % 4 === 0 && gpu.storageAlign % 16 === 0;
}

/** Threads per workgroup of the row kernels (one workgroup per row, looping over columns). */
const ROW_WG = 64;

/** Elements a row kernel's invocation accesses at once: 1, a pair, or a vec4. */
export type RowWidth = 1 | 2 | 4;

/**
 * The width of a row kernel over rows of C elements whose operands have dtypes `ds`, `written`
 * the dtype of its output: vec4 when C % 4 == 0 (whole vec4s at aligned offsets), else a pair
 * when an operand is 16-bit and C is even (16-bit chunks then start on words), else 1. Throws a
 * DTypeError naming `op` when a 16-bit output would need single elements (odd C: rows share
 * u32 words).
 */
export function rowWidth(
  op: string,
  gpu: Gpu,
  C: number,
  ds: readonly FloatDType[],
  written: Tensor,
): RowWidth {
  if (useVec4(gpu, C)) return 4;
  if (ds.some((d) => d !== "f32") && C % 2 === 0) return 2;
  if (written.dtype !== "f32") {
    throw new DTypeError(
      `${op}: a 16-bit output needs an even row width (rows of C = ${C} share u32 words), got ` +
        `${written}; use an even C or f32`,
    );
  }
  return 1;
}

/** WGSL accessor suffix and zero of width w. */
function widthOf(w: RowWidth): { at: string; zero: string; label: string } {
  return w === 4
    ? { at: "4", zero: "vec4f(0.0)", label: "vec4" }
    : w === 2
    ? { at: "2", zero: "vec2f(0.0)", label: "pair" }
    : { at: "", zero: "0.0", label: "f32" };
}

/** Dtype binding of a row kernel of width w (vec4 storage for w = 4). */
export function rowBinding(
  name: string,
  dtype: FloatDType,
  w: RowWidth,
  write = false,
): TypedBindingSpec {
  return { name, dtype, width: w === 4 ? 4 : 1, write };
}

function gatherSpec(w: RowWidth, d: { out: FloatDType; x: FloatDType }): KernelSpec {
  const { at, zero, label } = widthOf(w);
  const name = `gather_rows_${label}${dtypeSuffix(d)}`;
  return cachedSpec(name, () => ({
    name,
    bindings: [
      rowBinding("out", d.out, w, true),
      rowBinding("x", d.x, w),
      { name: "ids", type: "i32" },
    ],
    uniforms: [
      ["rows", "u32"], // out rows in this chunk
      ["W", "u32"], // row width in units of w elements
      ["outBase", "u32"], // in units of w elements
      ["outRow0", "u32"],
      ["xBase", "u32"],
      ["v0", "i32"], // x rows [v0, v1) are bound in this chunk
      ["v1", "i32"],
      ["V", "i32"], // x rows in total
      ["accumulate", "u32"],
      ["zeroInvalid", "u32"], // this pass writes the zero rows of out-of-range ids
    ],
    workgroupSize: [ROW_WG],
    body: `let r = wid.x + wid.y * nwg.x;
  if (r >= u.rows) { return; }
  let id = ids[u.outRow0 + r];
  let o = u.outBase + r * u.W;
  if (id >= u.v0 && id < u.v1) {
    let s = u.xBase + u32(id - u.v0) * u.W;
    if (u.accumulate != 0u) {
      for (var c = lidx; c < u.W; c += WG_X) {
        out_store${at}(o + c, out_load${at}(o + c) + x_load${at}(s + c));
      }
    } else {
      for (var c = lidx; c < u.W; c += WG_X) { out_store${at}(o + c, x_load${at}(s + c)); }
    }
  } else if (u.zeroInvalid != 0u && u.accumulate == 0u && (id < 0 || id >= u.V)) {
    for (var c = lidx; c < u.W; c += WG_X) { out_store${at}(o + c, ${zero}); }
  }`,
  }));
}

/** What `gatherInto` reads and writes. */
export interface GatherArgs extends ChunkOptions {
  /** [N, C] f32, f16 or bf16 output. */
  out: Tensor;
  /** [V, C] rows to gather from (f32, f16 or bf16; `xDtypes` narrows it). */
  x: Tensor;
  /** [N] i32 row of x for each output row. */
  ids: Tensor;
  /** Output rows. */
  N: number;
  /** Row width. */
  C: number;
  /** Add into out instead of overwriting it. */
  accumulate?: boolean;
  /** The dtypes x may have (default f32, f16, bf16; embedding tables: f32). */
  xDtypes?: readonly FloatDType[];
  /** x's name in errors (default "x"). */
  xName?: string;
}

/**
 * out[n, :] (=, or += when `accumulate`) x[ids[n], :] for n < N; ids outside [0, V) give a zero
 * row (nothing added when accumulating). Chunks out over rows and x over rows (x may be a big
 * embedding table). Shared by `gatherRows` and `embeddingForward`; `op` names the caller in errors.
 */
export function gatherInto(enc: Encoder, op: string, a: GatherArgs): void {
  const { out, x, ids, N, C } = a;
  if (!Number.isInteger(C) || C < 1) throw new Error(`${op}: bad C=${C}`);
  if (x.size % C !== 0) throw new Error(`${op}: ${x} is not [V, ${C}]`);
  const d = {
    out: needFloat(op, "out", out, N * C, enc.gpu),
    x: needFloat(op, a.xName ?? "x", x, 0, enc.gpu, a.xDtypes),
  };
  needI32(op, "ids", ids, N, enc.gpu);
  const gpu = enc.gpu;
  if (!gpu || N === 0) return;
  const V = x.size / C;
  let w = rowWidth(op, gpu, C, [d.out, d.x], out);
  // An empty x is bound as its minimum of 4 bytes: no whole vec4.
  if (V === 0 && w === 4) w = d.out === "f32" && d.x === "f32" ? 1 : 2;
  const spec = gatherSpec(w, d);
  const outChunks = chunksOf(gpu, out, N * C, C, a.maxBindingBytes);
  const xChunks = V === 0 ? [] : chunksOf(gpu, x, V * C, C, a.maxBindingBytes);
  for (const oc of outChunks) {
    const passes = xChunks.length === 0 ? [null] : xChunks;
    passes.forEach((xc, k) => {
      enc.dispatch(spec, { out: oc.range, x: xc?.range ?? x, ids }, {
        rows: oc.count,
        W: C / w,
        outBase: oc.base / w,
        outRow0: oc.first,
        xBase: (xc?.base ?? 0) / w,
        v0: xc?.first ?? 0,
        v1: xc ? xc.first + xc.count : 0,
        V,
        accumulate: a.accumulate ? 1 : 0,
        zeroInvalid: k === 0 ? 1 : 0,
      }, groups1d(oc.count, 1));
    });
  }
}

/** What `gatherRows` reads and writes. */
export interface GatherRowsArgs extends ChunkOptions {
  /** [M, C] f32, f16 or bf16 output. */
  out: Tensor;
  /** [N, C] f32, f16 or bf16 input. */
  x: Tensor;
  /** [M] i32 flat positions b*T+t. */
  positions: Tensor;
  /** Gathered rows. */
  M: number;
  /** Row width. */
  C: number;
}

/** out[m, :] = x[positions[m], :] for m < M; positions outside [0, rows of x) give a zero row. */
export function gatherRows(enc: Encoder, a: GatherRowsArgs): void {
  const { out, x, positions: ids, M: N, C, maxBindingBytes } = a;
  gatherInto(enc, "gatherRows", { out, x, ids, N, C, maxBindingBytes });
}

function scatterSpec(w: RowWidth, d: { dx: FloatDType; dout: FloatDType }): KernelSpec {
  const { at, label } = widthOf(w);
  const name = `scatter_rows_add_${label}${dtypeSuffix(d)}`;
  return cachedSpec(name, () => ({
    name,
    bindings: [
      rowBinding("dx", d.dx, w, true),
      rowBinding("dout", d.dout, w),
      { name: "positions", type: "i32" },
    ],
    uniforms: [
      ["m0", "u32"], // dout rows [m0, m1) are bound in this chunk
      ["m1", "u32"],
      ["W", "u32"], // row width in elements of type T
      ["doutBase", "u32"], // in elements of type T
      ["dxBase", "u32"],
      ["p0", "i32"], // dx rows [p0, p1) are bound in this chunk
      ["p1", "i32"],
    ],
    workgroupSize: [ROW_WG],
    prelude: `var<workgroup> earlier: array<u32, ${ROW_WG}>;
var<workgroup> later: array<u32, ${ROW_WG}>;`,
    body: `let m = u.m0 + wid.x + wid.y * nwg.x;
  if (m >= u.m1) { return; }
  let p = positions[m];
  // Count the other rows of this chunk that hit the same destination, before and after m.
  var e = 0u;
  var l = 0u;
  for (var k = u.m0 + lidx; k < u.m1; k += WG_X) {
    if (k != m && positions[k] == p) {
      if (k < m) { e += 1u; } else { l += 1u; }
    }
  }
  earlier[lidx] = e;
  later[lidx] = l;
  workgroupBarrier();
  for (var h = WG_X / 2u; h > 0u; h >>= 1u) {
    if (lidx < h) {
      earlier[lidx] += earlier[lidx + h];
      later[lidx] += later[lidx + h];
    }
    workgroupBarrier();
  }
  // Only the first row of a destination writes it: it sums its duplicates in ascending order.
  if (earlier[0] > 0u || p < u.p0 || p >= u.p1) { return; }
  let dups = later[0];
  let d = u.dxBase + u32(p - u.p0) * u.W;
  for (var c = lidx; c < u.W; c += WG_X) {
    var acc = dout_load${at}(u.doutBase + (m - u.m0) * u.W + c);
    if (dups > 0u) {
      for (var k = m + 1u; k < u.m1; k++) {
        if (positions[k] == p) { acc += dout_load${at}(u.doutBase + (k - u.m0) * u.W + c); }
      }
    }
    dx_store${at}(d + c, dx_load${at}(d + c) + acc);
  }`,
  }));
}

/** What `scatterRowsAdd` reads and accumulates into. */
export interface ScatterRowsArgs extends ChunkOptions {
  /** [N, C] f32, f16 or bf16, accumulated into. */
  dx: Tensor;
  /** [M, C] f32, f16 or bf16. */
  dout: Tensor;
  /** [M] i32. */
  positions: Tensor;
  /** Rows of dout. */
  M: number;
  /** Row width. */
  C: number;
}

/**
 * dx[positions[m], :] += dout[m, :] for m < M: the backward of `gatherRows`. Positions outside
 * [0, rows of dx) are skipped (padding). Repeated positions are allowed and correct: the first
 * row m of each destination adds dout of all rows with that position, in ascending m (per chunk of
 * dout rows when dout exceeds one binding), so the result is deterministic with no atomics.
 * Cost: O(M*C), plus a duplicate scan of M^2 integer compares in all (each row's workgroup scans
 * all M positions), plus O(M*C) per distinct repeated position. M=640, C=768 with 40 repeats of
 * one row: ~13 ms on the software adapter (the gather: ~6 ms).
 */
export function scatterRowsAdd(enc: Encoder, a: ScatterRowsArgs): void {
  const { dx, dout, positions, M, C, maxBindingBytes } = a;
  const op = "scatterRowsAdd";
  if (!Number.isInteger(C) || C < 1) throw new Error(`${op}: bad C=${C}`);
  if (dx.size % C !== 0) throw new Error(`${op}: ${dx} is not [N, ${C}]`);
  const d = {
    dx: needFloat(op, "dx", dx, 0, enc.gpu),
    dout: needFloat(op, "dout", dout, M * C, enc.gpu),
  };
  needI32(op, "positions", positions, M, enc.gpu);
  const gpu = enc.gpu;
  if (!gpu || M === 0 || dx.size === 0) return;
  const N = dx.size / C;
  const w = rowWidth(op, gpu, C, [d.dx, d.dout], dx);
  const spec = scatterSpec(w, d);
  const dxChunks = chunksOf(gpu, dx, N * C, C, maxBindingBytes);
  const doutChunks = chunksOf(gpu, dout, M * C, C, maxBindingBytes);
  for (const dc of dxChunks) {
    for (const oc of doutChunks) {
      enc.dispatch(spec, { dx: dc.range, dout: oc.range, positions }, {
        m0: oc.first,
        m1: oc.first + oc.count,
        W: C / w,
        doutBase: oc.base / w,
        dxBase: dc.base / w,
        p0: dc.first,
        p1: dc.first + dc.count,
      }, groups1d(oc.count, 1));
    }
  }
}

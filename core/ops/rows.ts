/**
 * Row addressing of [rows, C] f32 tensors: a gather (out[m] = x[positions[m]]) and a
 * deterministic scatter-add (the gather's backward), chunked over rows (`chunksOf`) when an
 * operand exceeds one storage binding. The MLM head gathers the hidden states at the M masked
 * positions from [N, C].
 *
 * Index tensors (positions / ids, [M] or [N] i32) are bound whole: they must fit one binding
 * (fewer than 33.5M rows at 128 MiB). Big f32 operands are split by rows into TensorRanges.
 * @module
 */
import type { Encoder, TensorRange } from "../encoder.ts";
import type { Gpu } from "../gpu.ts";
import { groups1d, type KernelSpec } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";
import { needF32, needI32 } from "./checks.ts";
import { type ChunkOptions, chunksOf } from "./chunking.ts";

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

function gatherSpec(vec4: boolean): KernelSpec {
  const { T, zero, suffix } = rowType(vec4);
  return {
    name: `gather_rows_${suffix}`,
    bindings: [
      { name: "out", type: T, write: true },
      { name: "x", type: T },
      { name: "ids", type: "i32" },
    ],
    uniforms: [
      ["rows", "u32"], // out rows in this chunk
      ["W", "u32"], // row width in elements of type T
      ["outBase", "u32"], // in elements of type T
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
      for (var c = lidx; c < u.W; c += WG_X) { out[o + c] = out[o + c] + x[s + c]; }
    } else {
      for (var c = lidx; c < u.W; c += WG_X) { out[o + c] = x[s + c]; }
    }
  } else if (u.zeroInvalid != 0u && u.accumulate == 0u && (id < 0 || id >= u.V)) {
    for (var c = lidx; c < u.W; c += WG_X) { out[o + c] = ${zero}; }
  }`,
  };
}

const GATHER = [gatherSpec(false), gatherSpec(true)];

/** What `gatherInto` reads and writes. */
export interface GatherArgs extends ChunkOptions {
  /** [N, C] f32 output. */
  out: Tensor;
  /** [V, C] f32 rows to gather from. */
  x: Tensor;
  /** [N] i32 row of x for each output row. */
  ids: Tensor;
  /** Output rows. */
  N: number;
  /** Row width. */
  C: number;
  /** Add into out instead of overwriting it. */
  accumulate?: boolean;
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
  needF32(op, "out", out, N * C);
  needF32(op, "x", x, 0);
  needI32(op, "ids", ids, N, enc.gpu);
  const gpu = enc.gpu;
  if (!gpu || N === 0) return;
  const V = x.size / C;
  const vec4 = V > 0 && useVec4(gpu, C);
  const w = vec4 ? 4 : 1;
  const outChunks = chunksOf(gpu, out, N * C, C, a.maxBindingBytes);
  const xChunks = V === 0 ? [] : chunksOf(gpu, x, V * C, C, a.maxBindingBytes);
  for (const oc of outChunks) {
    const passes = xChunks.length === 0 ? [null] : xChunks;
    passes.forEach((xc, k) => {
      enc.dispatch(GATHER[w === 4 ? 1 : 0], { out: oc.range, x: xc?.range ?? x, ids }, {
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
  /** [M, C] f32 output. */
  out: Tensor;
  /** [N, C] f32 input. */
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

function scatterSpec(vec4: boolean): KernelSpec {
  const { T, suffix } = rowType(vec4);
  return {
    name: `scatter_rows_add_${suffix}`,
    bindings: [
      { name: "dx", type: T, write: true },
      { name: "dout", type: T },
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
    var acc = dout[u.doutBase + (m - u.m0) * u.W + c];
    if (dups > 0u) {
      for (var k = m + 1u; k < u.m1; k++) {
        if (positions[k] == p) { acc += dout[u.doutBase + (k - u.m0) * u.W + c]; }
      }
    }
    dx[d + c] += acc;
  }`,
  };
}

const SCATTER = [scatterSpec(false), scatterSpec(true)];

/** What `scatterRowsAdd` reads and accumulates into. */
export interface ScatterRowsArgs extends ChunkOptions {
  /** [N, C] f32, accumulated into. */
  dx: Tensor;
  /** [M, C] f32. */
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
  needF32(op, "dx", dx, 0);
  needF32(op, "dout", dout, M * C);
  needI32(op, "positions", positions, M, enc.gpu);
  const gpu = enc.gpu;
  if (!gpu || M === 0 || dx.size === 0) return;
  const N = dx.size / C;
  const w = useVec4(gpu, C) ? 4 : 1;
  const dxChunks = chunksOf(gpu, dx, N * C, C, maxBindingBytes);
  const doutChunks = chunksOf(gpu, dout, M * C, C, maxBindingBytes);
  for (const dc of dxChunks) {
    for (const oc of doutChunks) {
      enc.dispatch(SCATTER[w === 4 ? 1 : 0], { dx: dc.range, dout: oc.range, positions }, {
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

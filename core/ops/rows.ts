/**
 * Row addressing of [rows, C] f32 tensors: chunked bindings for operands larger than one storage
 * binding, a gather (out[m] = x[positions[m]]) and a deterministic scatter-add (the gather's
 * backward). The MLM head gathers the hidden states at the M masked positions from [N, C].
 *
 * Index tensors (positions / ids, [M] or [N] i32) are bound whole: they must fit one binding
 * (fewer than 33.5M rows at 128 MiB). Big f32 operands are split by rows into TensorRanges.
 * @module
 */
import type { Encoder, TensorRange } from "../encoder.ts";
import type { Gpu } from "../gpu.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";

/** One chunk of a tensor viewed as consecutive units (rows) of `unitElems` 4-byte elements. */
export interface Chunk {
  /** First unit (row) of the chunk. */
  first: number;
  /** Units in the chunk (the last unit may be partial when the element count is not a multiple). */
  count: number;
  /** The binding: an aligned byte range of the tensor. */
  range: TensorRange;
  /** Element index of unit `first` inside `range` (the range starts at an aligned offset). */
  base: number;
}

/**
 * Split elements [0, elems) of a 4-byte-element tensor into chunks of whole units that each fit
 * one storage binding of `maxBindingBytes` (default `gpu.maxBinding`). Offsets are multiples of
 * `gpu.storageAlign`; `base` locates the first unit inside the range.
 */
export function chunksOf(
  gpu: Gpu,
  t: Tensor,
  elems: number,
  unitElems: number,
  maxBindingBytes = gpu.maxBinding,
): Chunk[] {
  if (t.size < elems) throw new Error(`chunksOf: tensor ${t} has fewer than ${elems} elements`);
  const align = gpu.storageAlign;
  const unitBytes = 4 * unitElems;
  const maxBinding = Math.min(maxBindingBytes, gpu.maxBinding);
  const units = Math.ceil(elems / unitElems);
  if (elems * 4 <= maxBinding) {
    return [{
      first: 0,
      count: units,
      range: { tensor: t, offset: 0, size: Math.max(4, elems * 4) },
      base: 0,
    }];
  }
  const perChunk = Math.floor((maxBinding - align + 4) / unitBytes);
  if (perChunk < 1) {
    throw new Error(
      `chunksOf: one row of ${unitBytes} bytes of ${t} does not fit a binding of ${maxBinding} ` +
        `bytes (alignment ${align}); unsupported row size`,
    );
  }
  const out: Chunk[] = [];
  for (let first = 0; first < units; first += perChunk) {
    const count = Math.min(perChunk, units - first);
    const startByte = first * unitBytes;
    const endByte = Math.min((first + count) * unitElems, elems) * 4;
    const offset = Math.floor(startByte / align) * align;
    out.push({
      first,
      count,
      range: { tensor: t, offset, size: endByte - offset },
      base: (startByte - offset) / 4,
    });
  }
  return out;
}

/** Throw unless `t` is an f32 tensor with at least `n` elements. */
export function needF32(op: string, name: string, t: Tensor, n: number): void {
  if (t.dtype !== "f32") throw new Error(`${op}: ${name} must be f32, got ${t}`);
  if (t.size < n) throw new Error(`${op}: ${name} ${t} has fewer than ${n} elements`);
}

/** Throw unless `t` is an i32 tensor with at least `n` elements that fits one binding. */
export function needI32(op: string, name: string, t: Tensor, n: number, gpu: Gpu | null): void {
  if (t.dtype !== "i32") throw new Error(`${op}: ${name} must be i32, got ${t}`);
  if (t.size < n) throw new Error(`${op}: ${name} ${t} has fewer than ${n} elements`);
  if (gpu && 4 * n > gpu.maxBinding) {
    throw new Error(`${op}: index tensor ${name} (${n} rows) exceeds one binding; unsupported`);
  }
}

const WG = 256;

const GATHER: KernelSpec = {
  name: "gather_rows",
  bindings: [
    { name: "out", type: "f32", write: true },
    { name: "x", type: "f32" },
    { name: "ids", type: "i32" },
  ],
  uniforms: [
    ["rows", "u32"], // out rows in this chunk
    ["C", "u32"],
    ["outBase", "u32"],
    ["outRow0", "u32"],
    ["xBase", "u32"],
    ["v0", "i32"], // x rows [v0, v1) are bound in this chunk
    ["v1", "i32"],
    ["V", "i32"], // x rows in total
    ["accumulate", "u32"],
    ["zeroInvalid", "u32"], // this pass writes the zero rows of out-of-range ids
  ],
  workgroupSize: [WG],
  body: `${LINEAR_INDEX}
  if (i >= u.rows * u.C) { return; }
  let r = i / u.C;
  let c = i - r * u.C;
  let id = ids[u.outRow0 + r];
  let o = u.outBase + i;
  if (id >= u.v0 && id < u.v1) {
    let val = x[u.xBase + u32(id - u.v0) * u.C + c];
    if (u.accumulate != 0u) { out[o] = out[o] + val; } else { out[o] = val; }
  } else if (u.zeroInvalid != 0u && u.accumulate == 0u && (id < 0 || id >= u.V)) {
    out[o] = 0.0;
  }`,
};

/**
 * out[n, :] (=, or += when `accumulate`) x[ids[n], :] for n < N; ids outside [0, V) give a zero
 * row (nothing added when accumulating). Chunks out over rows and x over rows (x may be a big
 * embedding table). Shared by `gatherRows` and `embeddingForward`.
 * @param out [N, C] f32
 * @param x [V, C] f32
 * @param ids [N] i32
 */
export function gatherInto(
  enc: Encoder,
  out: Tensor,
  x: Tensor,
  ids: Tensor,
  N: number,
  C: number,
  accumulate: boolean,
  maxBindingBytes?: number,
  op = "gather",
): void {
  if (!Number.isInteger(C) || C < 1) throw new Error(`${op}: bad C=${C}`);
  if (x.size % C !== 0) throw new Error(`${op}: ${x} is not [V, ${C}]`);
  needF32(op, "out", out, N * C);
  needF32(op, "x", x, 0);
  needI32(op, "ids", ids, N, enc.gpu);
  const gpu = enc.gpu;
  if (!gpu || N === 0) return;
  const V = x.size / C;
  const outChunks = chunksOf(gpu, out, N * C, C, maxBindingBytes);
  const xChunks = V === 0 ? [] : chunksOf(gpu, x, V * C, C, maxBindingBytes);
  for (const oc of outChunks) {
    const passes = xChunks.length === 0 ? [null] : xChunks;
    passes.forEach((xc, k) => {
      enc.dispatch(GATHER, { out: oc.range, x: xc?.range ?? x, ids }, {
        rows: oc.count,
        C,
        outBase: oc.base,
        outRow0: oc.first,
        xBase: xc?.base ?? 0,
        v0: xc?.first ?? 0,
        v1: xc ? xc.first + xc.count : 0,
        V,
        accumulate: accumulate ? 1 : 0,
        zeroInvalid: k === 0 ? 1 : 0,
      }, groups1d(oc.count * C, WG));
    });
  }
}

/**
 * out[m, :] = x[positions[m], :] for m < M; positions outside [0, rows of x) give a zero row.
 * @param out [M, C] f32
 * @param x [N, C] f32
 * @param positions [M] i32 (flat b*T+t)
 * @param maxBindingBytes override of the binding limit, to force chunking in tests
 */
export function gatherRows(
  enc: Encoder,
  out: Tensor,
  x: Tensor,
  positions: Tensor,
  M: number,
  C: number,
  maxBindingBytes?: number,
): void {
  gatherInto(enc, out, x, positions, M, C, false, maxBindingBytes, "gatherRows");
}

const SCATTER_WG = 64;

const SCATTER: KernelSpec = {
  name: "scatter_rows_add",
  bindings: [
    { name: "dx", type: "f32", write: true },
    { name: "dout", type: "f32" },
    { name: "positions", type: "i32" },
  ],
  uniforms: [
    ["m0", "u32"], // dout rows [m0, m1) are bound in this chunk
    ["m1", "u32"],
    ["C", "u32"],
    ["doutBase", "u32"],
    ["dxBase", "u32"],
    ["p0", "i32"], // dx rows [p0, p1) are bound in this chunk
    ["p1", "i32"],
  ],
  workgroupSize: [SCATTER_WG],
  prelude: `var<workgroup> earlier: array<u32, ${SCATTER_WG}>;
var<workgroup> later: array<u32, ${SCATTER_WG}>;`,
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
  for (var s = WG_X / 2u; s > 0u; s >>= 1u) {
    if (lidx < s) {
      earlier[lidx] += earlier[lidx + s];
      later[lidx] += later[lidx + s];
    }
    workgroupBarrier();
  }
  // Only the first row of a destination writes it: it sums its duplicates in ascending order.
  if (earlier[0] > 0u || p < u.p0 || p >= u.p1) { return; }
  let dups = later[0];
  let d = u.dxBase + u32(p - u.p0) * u.C;
  for (var c = lidx; c < u.C; c += WG_X) {
    var acc = dout[u.doutBase + (m - u.m0) * u.C + c];
    if (dups > 0u) {
      for (var k = m + 1u; k < u.m1; k++) {
        if (positions[k] == p) { acc += dout[u.doutBase + (k - u.m0) * u.C + c]; }
      }
    }
    dx[d + c] += acc;
  }`,
};

/**
 * dx[positions[m], :] += dout[m, :] for m < M: the backward of `gatherRows`. Positions outside
 * [0, rows of dx) are skipped (padding). Repeated positions are allowed and correct: the first
 * row m of each destination adds dout of all rows with that position, in ascending m (per chunk of
 * dout rows when dout exceeds one binding), so the result is deterministic with no atomics. Cost:
 * O(M*C) plus an O(M^2 / 64)-per-workgroup duplicate scan (M^2 compares in all; cheap for
 * M up to a few thousand).
 * @param dx [N, C] f32, accumulated into
 * @param dout [M, C] f32
 * @param positions [M] i32
 * @param maxBindingBytes override of the binding limit, to force chunking in tests
 */
export function scatterRowsAdd(
  enc: Encoder,
  dx: Tensor,
  dout: Tensor,
  positions: Tensor,
  M: number,
  C: number,
  maxBindingBytes?: number,
): void {
  const op = "scatterRowsAdd";
  if (!Number.isInteger(C) || C < 1) throw new Error(`${op}: bad C=${C}`);
  if (dx.size % C !== 0) throw new Error(`${op}: ${dx} is not [N, ${C}]`);
  needF32(op, "dx", dx, 0);
  needF32(op, "dout", dout, M * C);
  needI32(op, "positions", positions, M, enc.gpu);
  const gpu = enc.gpu;
  if (!gpu || M === 0 || dx.size === 0) return;
  const N = dx.size / C;
  const dxChunks = chunksOf(gpu, dx, N * C, C, maxBindingBytes);
  const doutChunks = chunksOf(gpu, dout, M * C, C, maxBindingBytes);
  for (const dc of dxChunks) {
    for (const oc of doutChunks) {
      enc.dispatch(SCATTER, { dx: dc.range, dout: oc.range, positions }, {
        m0: oc.first,
        m1: oc.first + oc.count,
        C,
        doutBase: oc.base,
        dxBase: dc.base,
        p0: dc.first,
        p1: dc.first + dc.count,
      }, groups1d(oc.count, 1));
    }
  }
}

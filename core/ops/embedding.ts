/**
 * Embedding lookup and its deterministic backward. Token, position and token-type embeddings are
 * summed by calling `embeddingForward` three times (the 2nd and 3rd with `accumulate`); position
 * ids are t for every (b, t). The table may exceed one storage binding (GPT-2's [50257, 768] f32 is
 * 154 MB > 128 MiB): both directions chunk it over vocab rows inside the op.
 *
 * Backward has no float atomics: token ids come from the host, so the host builds the inverse
 * index (`buildGatherIndex`) and each table row sums its positions in a fixed order.
 * The tables and their gradients are parameters and stay f32; the gathered activations (out)
 * and their gradient (dout) are f32, f16 or bf16 (a 16-bit out needs an even C).
 * @module
 */
import type { FloatDType } from "../dtype.ts";
import type { Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needF32, needFloat, needI32 } from "./checks.ts";
import { type ChunkOptions, chunksOf } from "./chunking.ts";
import { dtypeSuffix } from "./half_kernels.ts";
import { gatherInto, rowBinding, useVec4 } from "./rows.ts";

/** What `embeddingForward` reads and writes. */
export interface EmbeddingForwardArgs extends ChunkOptions {
  /** [N, C] f32, f16 or bf16 output (N = B*T). */
  out: Tensor;
  /** [V, C] f32. */
  table: Tensor;
  /** [N] i32. */
  ids: Tensor;
  /** Rows looked up. */
  N: number;
  /** Embedding width. */
  C: number;
  /** Add into out (the 2nd and 3rd embedding of a sum) instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * out[n, :] = table[ids[n], :] (or += when `accumulate`) for n < N. Ids outside [0, V) give a
 * zero row (add nothing when accumulating).
 */
export function embeddingForward(enc: Encoder, a: EmbeddingForwardArgs): void {
  const { out, table: x, ids, N, C, accumulate, maxBindingBytes } = a;
  gatherInto(enc, "embeddingForward", {
    out,
    x,
    ids,
    N,
    C,
    accumulate,
    maxBindingBytes,
    xDtypes: ["f32"],
    xName: "table",
  });
}

/** The inverse of an id list, grouped by id (host side; upload each array as an i32 tensor). */
export interface GatherIndex {
  /** [U] distinct ids >= 0, ascending. */
  unique: Int32Array;
  /** [U+1] group u is order[starts[u] .. starts[u+1]). */
  starts: Int32Array;
  /** [N'] positions n grouped by id, ascending within a group (N' = N minus negative ids). */
  order: Int32Array;
}

/**
 * Group the positions of `ids` by id (counting sort, O(N + max id)). Negative ids (padding) are
 * left out, so they get no gradient.
 * @param ids [N] token ids
 */
export function buildGatherIndex(ids: Int32Array): GatherIndex {
  let maxId = -1;
  for (const id of ids) if (id > maxId) maxId = id;
  const counts = new Int32Array(maxId + 2);
  for (const id of ids) if (id >= 0) counts[id + 1]++;
  let U = 0;
  for (let v = 1; v <= maxId + 1; v++) if (counts[v] > 0) U++;
  const unique = new Int32Array(U), starts = new Int32Array(U + 1);
  const next = new Int32Array(maxId + 1); // write cursor per id
  let u = 0, at = 0;
  for (let v = 0; v <= maxId; v++) {
    const k = counts[v + 1];
    if (k === 0) continue;
    unique[u] = v;
    starts[u] = at;
    next[v] = at;
    at += k;
    u++;
  }
  starts[U] = at;
  const order = new Int32Array(at);
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (id >= 0) order[next[id]++] = n;
  }
  return { unique, starts, order };
}

function backwardSpec(vec4: boolean, d: FloatDType): KernelSpec {
  const w = vec4 ? 4 : 1, zero = vec4 ? "vec4f(0.0)" : "0.0", at = vec4 ? "4" : "";
  const name = `embedding_backward_${vec4 ? "vec4" : "f32"}${dtypeSuffix({ dout: d })}`;
  return cachedSpec(name, () => ({
    name,
    bindings: [
      rowBinding("dtable", "f32", w, true),
      rowBinding("dout", d, w),
      { name: "unique", type: "i32" },
      { name: "starts", type: "i32" },
      { name: "order", type: "i32" },
    ],
    uniforms: [
      ["U", "u32"],
      ["W", "u32"], // row width in elements of type T
      ["tBase", "u32"], // in elements of type T
      ["v0", "i32"], // table rows [v0, v1) are bound in this chunk
      ["v1", "i32"],
      ["dBase", "u32"],
      ["p0", "i32"], // dout rows [p0, p1) are bound in this chunk
      ["p1", "i32"],
    ],
    workgroupSize: [64],
    body: `let g = wid.x + wid.y * nwg.x;
  if (g >= u.U) { return; }
  let id = unique[g];
  if (id < u.v0 || id >= u.v1) { return; }
  let b = starts[g];
  let e = starts[g + 1u];
  let o = u.tBase + u32(id - u.v0) * u.W;
  for (var c = lidx; c < u.W; c += WG_X) {
    var s = ${zero};
    for (var k = b; k < e; k++) {
      let p = order[k];
      if (p >= u.p1) { break; }
      if (p >= u.p0) { s += dout_load${at}(u.dBase + u32(p - u.p0) * u.W + c); }
    }
    dtable_store${at}(o + c, dtable_load${at}(o + c) + s);
  }`,
  }));
}

/** What `embeddingBackward` reads and accumulates into. */
export interface EmbeddingBackwardArgs extends ChunkOptions {
  /** [V, C] f32, accumulated into (zero it first for a fresh gradient). */
  dtable: Tensor;
  /** [N, C] f32, f16 or bf16. */
  dout: Tensor;
  /** [U] i32 distinct ids (from `buildGatherIndex`). */
  unique: Tensor;
  /** [U+1] i32 group starts. */
  starts: Tensor;
  /** [N'] i32 positions grouped by id. */
  order: Tensor;
  /** Distinct ids. */
  U: number;
  /** Embedding width. */
  C: number;
}

/**
 * dtable[unique[u], :] += sum of dout[p, :] over p in order[starts[u] .. starts[u+1]), summed in
 * that (ascending) order: deterministic, no atomics. Ids outside [0, V) are skipped. When dout
 * exceeds one binding, each chunk of dout rows adds its partial sum, chunks in ascending order.
 */
export function embeddingBackward(enc: Encoder, a: EmbeddingBackwardArgs): void {
  const { dtable, dout, unique, starts, order, U, C, maxBindingBytes } = a;
  const op = "embeddingBackward";
  if (!Number.isInteger(C) || C < 1) throw new Error(`${op}: bad C=${C}`);
  if (dtable.size % C !== 0) throw new Error(`${op}: ${dtable} is not [V, ${C}]`);
  if (dout.size % C !== 0) throw new Error(`${op}: ${dout} is not [N, ${C}]`);
  needF32(op, "dtable", dtable, 0);
  const d = needFloat(op, "dout", dout, 0, enc.gpu);
  needI32(op, "unique", unique, U, enc.gpu);
  needI32(op, "starts", starts, U + 1, enc.gpu);
  needI32(op, "order", order, 0, enc.gpu);
  const gpu = enc.gpu;
  if (!gpu || U === 0 || dtable.size === 0 || dout.size === 0) return;
  const V = dtable.size / C, N = dout.size / C;
  const w = useVec4(gpu, C) ? 4 : 1;
  const tChunks = chunksOf(gpu, dtable, V * C, C, maxBindingBytes);
  const dChunks = chunksOf(gpu, dout, N * C, C, maxBindingBytes);
  for (const tc of tChunks) {
    for (const dc of dChunks) {
      enc.dispatch(backwardSpec(w === 4, d), {
        dtable: tc.range,
        dout: dc.range,
        unique,
        starts,
        order,
      }, {
        U,
        W: C / w,
        tBase: tc.base / w,
        v0: tc.first,
        v1: tc.first + tc.count,
        dBase: dc.base / w,
        p0: dc.first,
        p1: dc.first + dc.count,
      }, groups1d(U, 1));
    }
  }
}

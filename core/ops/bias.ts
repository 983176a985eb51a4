/**
 * Bias ops of a Linear layer: the forward add y[rows,n] += bias[n], and the bias gradient
 * out[n] = sum over rows of dy[rows,n] (one invocation per column, rows in order: deterministic).
 * Tensors larger than one storage binding are processed in row chunks (`chunksOf`).
 * Two kernels per op, picked by the kernel policy (`bias`): `element`, one output element (or
 * vec4) per invocation, sumRows one column per invocation (real GPUs); `blocked`, when
 * n % 4 == 0, for the software adapter (llvmpipe: every per-lane load is a loop with a bounds
 * check): addBias adds one vec4 of the bias to a block of rows per invocation (one bias load per
 * block), sumRows sums 4 columns per invocation in workgroups of 8 (rows in the same order per
 * column: bit-identical to the element kernel).
 * Ops never allocate: outputs are the caller's.
 * @module
 */
import type { Encoder } from "../encoder.ts";
import type { Gpu } from "../gpu.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { sumRowsKernelFor } from "../kernel_policy.ts";
import type { Tensor } from "../tensor.ts";
import { type ChunkOptions, chunksOf } from "./chunking.ts";

const WG = 256;
const COLS_WG = 64;
/** Invocations per workgroup of the blocked kernels (columns: 8, so n = 64 still spreads). */
const ROWS_WG = 64;
const COLS4_WG = 8;
/** Rows per invocation of the blocked addBias. */
const ADD_ROWS = 8;

/** Whether the blocked kernels can take rows of n: whole vec4s at aligned offsets. */
function blockedFits(gpu: Gpu, n: number): boolean {
  return n % 4 === 0 && gpu.storageAlign % 16 === 0;
}

/** Blocked addBias: each invocation adds bias vec4 c to rows [r0, r0 + ADD_ROWS). */
const ADD_BIAS_ROWS: KernelSpec = {
  name: "add_bias_rows",
  bindings: [{ name: "y", type: "vec4<f32>", write: true }, { name: "bias", type: "vec4<f32>" }],
  uniforms: [["rows", "u32"], ["n4", "u32"], ["off4", "u32"]],
  workgroupSize: [ROWS_WG],
  body: `${LINEAR_INDEX}
  let c = i % u.n4;
  let r0 = (i / u.n4) * ${ADD_ROWS}u;
  if (r0 >= u.rows) { return; }
  let b = bias[c];
  let r1 = min(u.rows, r0 + ${ADD_ROWS}u);
  for (var r = r0; r < r1; r++) {
    let k = u.off4 + r * u.n4 + c;
    y[k] += b;
  }`,
};

const ADD_BIAS: KernelSpec = {
  name: "add_bias",
  bindings: [{ name: "y", type: "f32", write: true }, { name: "bias", type: "f32" }],
  uniforms: [["count", "u32"], ["n", "u32"], ["off", "u32"]],
  workgroupSize: [WG],
  body: `${LINEAR_INDEX}
  if (i >= u.count) { return; }
  y[u.off + i] += bias[i % u.n];`,
};

/** addBias when n % 4 == 0: vec4 loads and stores (on llvmpipe a load costs per lane, not per byte). */
const ADD_BIAS4: KernelSpec = {
  name: "add_bias4",
  bindings: [{ name: "y", type: "vec4<f32>", write: true }, { name: "bias", type: "vec4<f32>" }],
  uniforms: [["count", "u32"], ["n", "u32"], ["off", "u32"]],
  workgroupSize: [WG],
  body: ADD_BIAS.body,
};

const SUM_ROWS: KernelSpec = {
  name: "sum_rows",
  bindings: [{ name: "x", type: "f32" }, { name: "out", type: "f32", write: true }],
  uniforms: [["rows", "u32"], ["n", "u32"], ["off", "u32"], ["beta", "f32"]],
  workgroupSize: [COLS_WG],
  body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  var s = 0.0;
  for (var r = 0u; r < u.rows; r++) { s += x[u.off + r * u.n + i]; }
  out[i] = s + select(0.0, out[i], u.beta != 0.0);`,
};

/** Blocked sumRows: 4 columns per invocation, rows in order. */
const SUM_ROWS4: KernelSpec = {
  name: "sum_rows4",
  bindings: [{ name: "x", type: "vec4<f32>" }, { name: "out", type: "vec4<f32>", write: true }],
  uniforms: [["rows", "u32"], ["n4", "u32"], ["off4", "u32"], ["beta", "f32"]],
  workgroupSize: [COLS4_WG],
  body: `${LINEAR_INDEX}
  if (i >= u.n4) { return; }
  var s = vec4f(0.0);
  for (var r = 0u; r < u.rows; r++) { s += x[u.off4 + r * u.n4 + i]; }
  out[i] = s + select(vec4f(0.0), out[i], u.beta != 0.0);`,
};

function check(op: string, rows: number, n: number, big: Tensor, small: Tensor): void {
  for (const [name, v] of [["rows", rows], ["n", n]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${op}: ${name} must be an integer >= 1`);
  }
  for (const t of [big, small]) {
    if (t.dtype !== "f32") throw new Error(`${op}: only f32 is supported, got ${t}`);
  }
  if (big.size < rows * n) throw new Error(`${op}: ${big} has fewer than ${rows}x${n} elements`);
  if (small.size < n) throw new Error(`${op}: ${small} has fewer than ${n} elements`);
}

/** What `addBias` reads and writes. */
export interface AddBiasArgs extends ChunkOptions {
  /** [rows, n] activations (e.g. a Linear output [N, out]), updated in place. */
  y: Tensor;
  /** [n]. */
  bias: Tensor;
  /** Rows of y. */
  rows: number;
  /** Columns (the bias length). */
  n: number;
}

/** y[r, c] += bias[c] for r < rows, c < n, in place. */
export function addBias(enc: Encoder, a: AddBiasArgs): void {
  const { y, bias, rows, n } = a;
  check("addBias", rows, n, y, bias);
  const gpu = enc.gpu;
  if (!gpu) return;
  // vec4 when rows are whole vec4s (chunk offsets are then multiples of 4 elements too).
  const q = blockedFits(gpu, n) ? 4 : 1;
  const spec = q === 4 ? ADD_BIAS4 : ADD_BIAS;
  const blocked = gpu.kernels.bias === "blocked" && blockedFits(gpu, n);
  const b4 = { tensor: bias, offset: 0, size: 4 * n };
  for (const ch of chunksOf(gpu, y, rows * n, n, a.maxBindingBytes)) {
    const rc = ch.count, off = ch.base;
    if (blocked) {
      const u = { rows: rc, n4: n / 4, off4: off / 4 };
      const g = groups1d(Math.ceil(rc / ADD_ROWS) * u.n4, ROWS_WG);
      enc.dispatch(ADD_BIAS_ROWS, { y: ch.range, bias: b4 }, u, g);
      continue;
    }
    const count = (rc * n) / q;
    const u = { count, n: n / q, off: off / q };
    enc.dispatch(spec, { y: ch.range, bias }, u, groups1d(count, WG));
  }
}

/** What `sumRows` reads and writes. */
export interface SumRowsArgs extends ChunkOptions {
  /** [n]; with beta 0 its old contents are ignored (even NaN). */
  out: Tensor;
  /** [rows, n] (e.g. dy [N, out]). */
  x: Tensor;
  /** Rows of x. */
  rows: number;
  /** Columns. */
  n: number;
  /** 0 (overwrite out) or 1 (add to it). Default 0. */
  beta?: number;
}

/**
 * out[c] = sum over r < rows of x[r, c] (+ out[c] when beta is 1): the bias gradient. Rows are
 * added in order by one invocation per column (deterministic; no atomics).
 */
export function sumRows(enc: Encoder, a: SumRowsArgs): void {
  const { out, x, rows, n } = a;
  const beta = a.beta ?? 0;
  check("sumRows", rows, n, x, out);
  if (beta !== 0 && beta !== 1) throw new Error(`sumRows: beta must be 0 or 1, got ${beta}`);
  const gpu = enc.gpu;
  if (!gpu) return;
  const blocked = sumRowsKernelFor(gpu.kernels, n) === "blocked" && blockedFits(gpu, n);
  const o4 = { tensor: out, offset: 0, size: 4 * n };
  for (const ch of chunksOf(gpu, x, rows * n, n, a.maxBindingBytes)) {
    const b = ch.first === 0 ? beta : 1;
    if (blocked) {
      const u = { rows: ch.count, n4: n / 4, off4: ch.base / 4, beta: b };
      enc.dispatch(SUM_ROWS4, { x: ch.range, out: o4 }, u, groups1d(n / 4, COLS4_WG));
    } else {
      const u = { rows: ch.count, n, off: ch.base, beta: b };
      enc.dispatch(SUM_ROWS, { x: ch.range, out }, u, groups1d(n, COLS_WG));
    }
  }
}

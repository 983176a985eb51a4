/**
 * Bias ops of a Linear layer: the forward add y[rows,n] += bias[n], and the bias gradient
 * out[n] = sum over rows of dy[rows,n] (one invocation per column, rows in order: deterministic).
 * Tensors larger than one storage binding are processed in row chunks bound through TensorRange.
 * On the software adapter (llvmpipe: every per-lane load is a loop with a bounds check), when
 * n % 4 == 0, "rows" variants: addBias adds one vec4 of the bias to a block of rows per invocation
 * (one bias load per block), sumRows (n <= 1024) sums 4 columns per invocation in workgroups of
 * 8 (rows in the same order per column: bit-identical to the scalar kernel).
 * Ops never allocate: outputs are the caller's.
 * @module
 */
import type { Encoder, TensorRange } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";

const WG = 256;
const COLS_WG = 64;
/** Invocations per workgroup of the software kernels (columns: 8, so n = 64 still spreads). */
const ROWS_WG = 64;
const COLS4_WG = 8;
/** Rows per invocation of the software addBias. */
const ADD_ROWS = 8;
/** Widest n the software sumRows takes (at n = 3072 the scalar kernel was faster: 0.8-0.9x). */
const SUM4_MAX_N = 1024;

/**
 * Kernel variant of the bias ops: "element" (addBias one element or vec4 per invocation, sumRows
 * one column per invocation: real GPUs), "rows" (when n % 4 == 0, else element: the software
 * adapter), or "auto" (rows on a software adapter).
 */
export type BiasVariant = "auto" | "rows" | "element";
let variant: BiasVariant = "auto";

/** Force the kernel variant of addBias/sumRows (tests, benchmarks); returns the previous one. */
export function setBiasVariant(v: BiasVariant): BiasVariant {
  const old = variant;
  variant = v;
  return old;
}

function useRows(gpu: { isSoftware: boolean; storageAlign: number }, n: number): boolean {
  return n % 4 === 0 && gpu.storageAlign % 16 === 0 &&
    (variant === "rows" || (variant === "auto" && gpu.isSoftware));
}

/** Software addBias: each invocation adds bias vec4 c to rows [r0, r0 + ADD_ROWS). */
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

/** Software sumRows: 4 columns per invocation, rows in order. */
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

/** Options of the bias ops. */
export interface BiasOptions {
  /** Largest storage binding in bytes (default gpu.maxBinding); tests lower it to force chunking. */
  maxBindingBytes?: number;
}

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

/**
 * Row chunks of a [rows, n] tensor that fit one binding: [first row, row count, range, element
 * offset of the first row inside the range].
 */
function rowChunks(
  enc: Encoder,
  t: Tensor,
  rows: number,
  n: number,
  opts: BiasOptions,
  op: string,
): [number, number, TensorRange, number][] {
  const gpu = enc.gpu!;
  const alignEl = Math.max(1, gpu.storageAlign / 4);
  const maxBytes = Math.min(opts.maxBindingBytes ?? gpu.maxBinding, gpu.maxBinding);
  const per = Math.floor((Math.floor(maxBytes / 4) - alignEl) / n);
  if (per < 1) throw new Error(`${op}: one row of ${n} elements exceeds ${maxBytes} bytes`);
  const out: [number, number, TensorRange, number][] = [];
  for (let r0 = 0; r0 < rows; r0 += per) {
    const rc = Math.min(per, rows - r0);
    const s = r0 * n, base = Math.floor(s / alignEl) * alignEl;
    out.push([r0, rc, { tensor: t, offset: base * 4, size: (s + rc * n - base) * 4 }, s - base]);
  }
  return out;
}

/**
 * y[r, c] += bias[c] for r < rows, c < n, in place.
 * @param y [rows, n] activations (e.g. a Linear output [N, out])
 * @param bias [n]
 */
export function addBias(
  enc: Encoder,
  y: Tensor,
  bias: Tensor,
  rows: number,
  n: number,
  opts: BiasOptions = {},
): void {
  check("addBias", rows, n, y, bias);
  const gpu = enc.gpu;
  if (!gpu) return;
  // vec4 when rows are whole vec4s (chunk offsets are then multiples of 4 elements too).
  const q = n % 4 === 0 && gpu.storageAlign % 16 === 0 ? 4 : 1;
  const spec = q === 4 ? ADD_BIAS4 : ADD_BIAS;
  const software = useRows(gpu, n);
  const b4 = { tensor: bias, offset: 0, size: 4 * n };
  for (const [, rc, range, off] of rowChunks(enc, y, rows, n, opts, "addBias")) {
    if (software) {
      const u = { rows: rc, n4: n / 4, off4: off / 4 };
      const g = groups1d(Math.ceil(rc / ADD_ROWS) * u.n4, ROWS_WG);
      enc.dispatch(ADD_BIAS_ROWS, { y: range, bias: b4 }, u, g);
      continue;
    }
    const count = (rc * n) / q;
    const u = { count, n: n / q, off: off / q };
    enc.dispatch(spec, { y: range, bias }, u, groups1d(count, WG));
  }
}

/**
 * out[c] = sum over r < rows of x[r, c] (+ out[c] when beta is 1): the bias gradient. Rows are
 * added in order by one invocation per column (deterministic; no atomics).
 * @param out [n]; with beta 0 its old contents are ignored (even NaN)
 * @param x [rows, n] (e.g. dy [N, out])
 * @param beta 0 or 1
 */
export function sumRows(
  enc: Encoder,
  out: Tensor,
  x: Tensor,
  rows: number,
  n: number,
  beta = 0,
  opts: BiasOptions = {},
): void {
  check("sumRows", rows, n, x, out);
  if (beta !== 0 && beta !== 1) throw new Error(`sumRows: beta must be 0 or 1, got ${beta}`);
  if (!enc.gpu) return;
  const software = useRows(enc.gpu, n) && (variant === "rows" || n <= SUM4_MAX_N);
  const o4 = { tensor: out, offset: 0, size: 4 * n };
  for (const [r0, rc, range, off] of rowChunks(enc, x, rows, n, opts, "sumRows")) {
    const b = r0 === 0 ? beta : 1;
    if (software) {
      const u = { rows: rc, n4: n / 4, off4: off / 4, beta: b };
      enc.dispatch(SUM_ROWS4, { x: range, out: o4 }, u, groups1d(n / 4, COLS4_WG));
    } else {
      const u = { rows: rc, n, off, beta: b };
      enc.dispatch(SUM_ROWS, { x: range, out }, u, groups1d(n, COLS_WG));
    }
  }
}

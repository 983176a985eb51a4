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
 * The activations (y, dy) may be f32, f16 or bf16; the bias and its gradient are parameters and
 * stay f32. Arithmetic is f32; a 16-bit y gets one rounding per element (the element kernel
 * then takes a pair per invocation, the vec4 kernels are unchanged).
 * Ops never allocate: outputs are the caller's.
 * @module
 */
import type { FloatDType } from "../dtype.ts";
import { needDtype } from "../dtype_check.ts";
import type { Encoder } from "../encoder.ts";
import type { Gpu } from "../gpu.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { sumRowsKernelFor } from "../kernel_policy.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needFloat } from "./checks.ts";
import { type ChunkOptions, chunksOf } from "./chunking.ts";
import { dtypeSuffix, store2nWgsl } from "./half_kernels.ts";

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
function addBiasRowsSpec(d: FloatDType): KernelSpec {
  const name = `add_bias_rows${dtypeSuffix({ y: d })}`;
  return cachedSpec(name, () => ({
    name,
    bindings: [
      { name: "y", dtype: d, width: 4, write: true },
      { name: "bias", dtype: "f32", width: 4 },
    ],
    uniforms: [["rows", "u32"], ["n4", "u32"], ["off4", "u32"]],
    workgroupSize: [ROWS_WG],
    body: `${LINEAR_INDEX}
  let c = i % u.n4;
  let r0 = (i / u.n4) * ${ADD_ROWS}u;
  if (r0 >= u.rows) { return; }
  let b = bias_load4(c);
  let r1 = min(u.rows, r0 + ${ADD_ROWS}u);
  for (var r = r0; r < r1; r++) {
    let k = u.off4 + r * u.n4 + c;
    y_store4(k, y_load4(k) + b);
  }`,
  }));
}

/**
 * Element addBias: one element per invocation (f32), one vec4 (`q` 4: n % 4 == 0, vec4 loads
 * and stores; on llvmpipe a load costs per lane, not per byte), or one pair (16-bit y; chunks
 * start at even elements).
 */
function addBiasSpec(d: FloatDType, q: 1 | 4): KernelSpec {
  const name = `add_bias${q === 4 ? "4" : ""}${dtypeSuffix({ y: d })}`;
  const pairs = q === 1 && d !== "f32";
  const body = q === 4
    ? `if (i >= u.count) { return; }
  y_store4(u.off + i, y_load4(u.off + i) + bias_load4(i % u.n));`
    : pairs
    ? `if (i >= (u.count + 1u) / 2u) { return; }
  let p = u.off / 2u + i;
  let b = vec2f(bias_load((2u * i) % u.n), bias_load((2u * i + 1u) % u.n));
  y_store2n(p, y_load2(p) + b, u.off + u.count);`
    : `if (i >= u.count) { return; }
  y_store(u.off + i, y_load(u.off + i) + bias_load(i % u.n));`;
  return cachedSpec(name, () => ({
    name,
    bindings: [
      { name: "y", dtype: d, width: q, write: true },
      { name: "bias", dtype: "f32", width: q },
    ],
    uniforms: [["count", "u32"], ["n", "u32"], ["off", "u32"]],
    workgroupSize: [WG],
    prelude: pairs ? store2nWgsl("y", d) : undefined,
    body: `${LINEAR_INDEX}
  ${body}`,
  }));
}

function sumRowsSpec(d: FloatDType): KernelSpec {
  const name = `sum_rows${dtypeSuffix({ x: d })}`;
  return cachedSpec(name, () => ({
    name,
    bindings: [{ name: "x", dtype: d }, { name: "out", dtype: "f32", write: true }],
    uniforms: [["rows", "u32"], ["n", "u32"], ["off", "u32"], ["beta", "f32"]],
    workgroupSize: [COLS_WG],
    body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  var s = 0.0;
  for (var r = 0u; r < u.rows; r++) { s += x_load(u.off + r * u.n + i); }
  out_store(i, s + select(0.0, out_load(i), u.beta != 0.0));`,
  }));
}

/** Blocked sumRows: 4 columns per invocation, rows in order. */
function sumRows4Spec(d: FloatDType): KernelSpec {
  const name = `sum_rows4${dtypeSuffix({ x: d })}`;
  return cachedSpec(name, () => ({
    name,
    bindings: [
      { name: "x", dtype: d, width: 4 },
      { name: "out", dtype: "f32", width: 4, write: true },
    ],
    uniforms: [["rows", "u32"], ["n4", "u32"], ["off4", "u32"], ["beta", "f32"]],
    workgroupSize: [COLS4_WG],
    body: `${LINEAR_INDEX}
  if (i >= u.n4) { return; }
  var s = vec4f(0.0);
  for (var r = 0u; r < u.rows; r++) { s += x_load4(u.off4 + r * u.n4 + i); }
  out_store4(i, s + select(vec4f(0.0), out_load4(i), u.beta != 0.0));`,
  }));
}

/**
 * Check the shape and dtypes: `big` [rows, n] f32, f16 or bf16, `small` [n] f32 (bias vectors
 * and their gradients are parameters: f32). Returns big's dtype.
 */
function check(
  op: string,
  rows: number,
  n: number,
  big: [string, Tensor],
  small: [string, Tensor],
  gpu: Gpu | null,
): FloatDType {
  for (const [name, v] of [["rows", rows], ["n", n]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${op}: ${name} must be an integer >= 1`);
  }
  needDtype(op, small[0], small[1], ["f32"], n);
  return needFloat(op, big[0], big[1], rows * n, gpu);
}

/** What `addBias` reads and writes. */
export interface AddBiasArgs extends ChunkOptions {
  /** [rows, n] f32, f16 or bf16 activations (e.g. a Linear output [N, out]), updated in place. */
  y: Tensor;
  /** [n] f32. */
  bias: Tensor;
  /** Rows of y. */
  rows: number;
  /** Columns (the bias length). */
  n: number;
}

/** y[r, c] += bias[c] for r < rows, c < n, in place. */
export function addBias(enc: Encoder, a: AddBiasArgs): void {
  const { y, bias, rows, n } = a;
  const d = check("addBias", rows, n, ["y", y], ["bias", bias], enc.gpu);
  const gpu = enc.gpu;
  if (!gpu) return;
  // vec4 when rows are whole vec4s (chunk offsets are then multiples of 4 elements too).
  const q = blockedFits(gpu, n) ? 4 : 1;
  const spec = addBiasSpec(d, q);
  const blocked = gpu.kernels.bias === "blocked" && blockedFits(gpu, n);
  const b4 = { tensor: bias, offset: 0, size: 4 * n };
  for (const ch of chunksOf(gpu, y, rows * n, n, a.maxBindingBytes)) {
    const rc = ch.count, off = ch.base;
    if (blocked) {
      const u = { rows: rc, n4: n / 4, off4: off / 4 };
      const g = groups1d(Math.ceil(rc / ADD_ROWS) * u.n4, ROWS_WG);
      enc.dispatch(addBiasRowsSpec(d), { y: ch.range, bias: b4 }, u, g);
      continue;
    }
    const count = (rc * n) / q;
    const u = { count, n: n / q, off: off / q };
    const items = q === 1 && d !== "f32" ? Math.ceil(count / 2) : count;
    enc.dispatch(spec, { y: ch.range, bias }, u, groups1d(items, WG));
  }
}

/** What `sumRows` reads and writes. */
export interface SumRowsArgs extends ChunkOptions {
  /** [n] f32; with beta 0 its old contents are ignored (even NaN). */
  out: Tensor;
  /** [rows, n] f32, f16 or bf16 (e.g. dy [N, out]). */
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
  const d = check("sumRows", rows, n, ["x", x], ["out", out], enc.gpu);
  if (beta !== 0 && beta !== 1) throw new Error(`sumRows: beta must be 0 or 1, got ${beta}`);
  const gpu = enc.gpu;
  if (!gpu) return;
  const blocked = sumRowsKernelFor(gpu.kernels, n) === "blocked" && blockedFits(gpu, n);
  const o4 = { tensor: out, offset: 0, size: 4 * n };
  for (const ch of chunksOf(gpu, x, rows * n, n, a.maxBindingBytes)) {
    const b = ch.first === 0 ? beta : 1;
    if (blocked) {
      const u = { rows: ch.count, n4: n / 4, off4: ch.base / 4, beta: b };
      enc.dispatch(sumRows4Spec(d), { x: ch.range, out: o4 }, u, groups1d(n / 4, COLS4_WG));
    } else {
      const u = { rows: ch.count, n, off: ch.base, beta: b };
      enc.dispatch(sumRowsSpec(d), { x: ch.range, out }, u, groups1d(n, COLS_WG));
    }
  }
}

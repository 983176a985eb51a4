/**
 * Row argmax: out[r] = the first index of the largest value of row r of x [rows, V] (NaN never
 * wins; a row of NaN gives 0). One invocation per row, columns in order: deterministic. Used to
 * score predictions (masked-token accuracy) without reading logits back to the host. x must fit
 * one storage binding (callers pass logits in chunks, as the LM head computes them).
 * @module
 */
import type { Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";
import { needF32 } from "./checks.ts";

const WG = 64;

const ARGMAX_ROWS: KernelSpec = {
  name: "argmax_rows",
  bindings: [{ name: "x", type: "f32" }, { name: "out", type: "i32", write: true }],
  uniforms: [["rows", "u32"], ["V", "u32"]],
  workgroupSize: [WG],
  body: `${LINEAR_INDEX}
  if (i >= u.rows) { return; }
  let o = i * u.V;
  var best = 0u;
  var bv = -3.40282347e38;
  var found = false;
  for (var c = 0u; c < u.V; c++) {
    let x1 = x[o + c];
    if (x1 > bv || (!found && x1 == bv)) {
      best = c;
      bv = x1;
      found = true;
    }
  }
  out[i] = i32(best);`,
};

/** What `argmaxRows` reads and writes. */
export interface ArgmaxRowsArgs {
  /** [rows] i32 output. */
  out: Tensor;
  /** [rows, V] f32. */
  x: Tensor;
  /** Rows. */
  rows: number;
  /** Columns. */
  V: number;
}

/** out[r] = argmax over c of x[r, c], the first on ties. */
export function argmaxRows(enc: Encoder, a: ArgmaxRowsArgs): void {
  const { rows, V } = a;
  for (const [name, v] of [["rows", rows], ["V", V]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`argmaxRows: ${name} must be >= 1, got ${v}`);
    }
  }
  needF32("argmaxRows", "x", a.x, rows * V);
  if (a.out.dtype !== "i32") throw new Error(`argmaxRows: out must be i32, got ${a.out}`);
  if (a.out.size < rows) throw new Error(`argmaxRows: out ${a.out} has fewer than ${rows} rows`);
  const gpu = enc.gpu;
  if (!gpu) return;
  if (a.x.bytes > gpu.maxBinding) {
    throw new Error(`argmaxRows: x ${a.x} exceeds one storage binding; pass it in row chunks`);
  }
  enc.dispatch(ARGMAX_ROWS, { x: a.x, out: a.out }, { rows, V }, groups1d(rows, WG));
}

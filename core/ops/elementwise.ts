/**
 * Elementwise ops: residual add, scale, fill, axpy-style accumulate. Shapes are flat: n elements.
 * Ops never allocate: outputs (and any scratch) are passed in by the caller, which owns accounting.
 * @module
 */
import type { Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";

const WG = 256;

const ADD: KernelSpec = {
  name: "add",
  bindings: [{ name: "a", type: "f32" }, { name: "b", type: "f32" }, {
    name: "out",
    type: "f32",
    write: true,
  }],
  uniforms: [["n", "u32"]],
  workgroupSize: [WG],
  body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  out[i] = a[i] + b[i];`,
};

const SCALE_ACC: KernelSpec = {
  name: "scale_acc",
  bindings: [{ name: "x", type: "f32" }, { name: "out", type: "f32", write: true }],
  uniforms: [["n", "u32"], ["alpha", "f32"], ["beta", "f32"]],
  workgroupSize: [WG],
  body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  let prev = select(0.0, out[i], u.beta != 0.0);
  out[i] = u.alpha * x[i] + u.beta * prev;`,
};

const FILL: KernelSpec = {
  name: "fill",
  bindings: [{ name: "out", type: "u32", write: true }],
  uniforms: [["n", "u32"], ["bits", "u32"]],
  workgroupSize: [WG],
  body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  out[i] = u.bits;`,
};

function sameSize(op: string, ...ts: Tensor[]): number {
  const n = ts[0].size;
  for (const t of ts) {
    if (t.size !== n) throw new Error(`${op}: size mismatch ${ts.map(String).join(" vs ")}`);
  }
  return n;
}

/** out[i] = a[i] + b[i]. `out` may alias `a` or `b`. */
export function add(enc: Encoder, out: Tensor, a: Tensor, b: Tensor): void {
  const n = sameSize("add", out, a, b);
  enc.dispatch(ADD, { a, b, out }, { n }, groups1d(n, WG));
}

/** out[i] = alpha * x[i] + beta * out[i] (beta = 0 ignores out's old contents, even NaN). */
export function scaleAcc(enc: Encoder, out: Tensor, x: Tensor, alpha: number, beta = 0): void {
  const n = sameSize("scaleAcc", out, x);
  enc.dispatch(SCALE_ACC, { x, out }, { n, alpha, beta }, groups1d(n, WG));
}

/** Fill every u32 word of `out` with the bit pattern of f32 `value` (or with `value` as u32). */
export function fill(enc: Encoder, out: Tensor, value: number, asU32 = false): void {
  const n = out.bytes / 4;
  const bits = asU32 ? value >>> 0 : new Uint32Array(new Float32Array([value]).buffer)[0];
  enc.dispatch(FILL, { out }, { n, bits }, groups1d(n, WG));
}

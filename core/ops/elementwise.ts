/**
 * Elementwise ops: residual add, scale, fill, axpy-style accumulate. Shapes are flat: n elements.
 * Every float operand may be f32, f16 or bf16, each its own (e.g. an f32 sum of 16-bit terms);
 * arithmetic is f32 and each output element is rounded once to its dtype. All-f32 kernels take
 * one element per invocation, kernels with a 16-bit operand a pair (`half_kernels.ts`).
 * Ops never allocate: outputs (and any scratch) are passed in by the caller, which owns accounting.
 * @module
 */
import type { FloatDType } from "../dtype.ts";
import type { Encoder } from "../encoder.ts";
import { toHalfBits } from "../half.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needFloat } from "./checks.ts";
import { anyHalf, dtypeSuffix, store2nWgsl } from "./half_kernels.ts";

const WG = 256;

/** The guard and index of an elementwise body: one element per invocation, or a pair. */
function head(pairs: boolean): string {
  return `${LINEAR_INDEX}
  if (i >= ${pairs ? "(u.n + 1u) / 2u" : "u.n"}) { return; }`;
}

function addSpec(d: { a: FloatDType; b: FloatDType; out: FloatDType }): KernelSpec {
  const name = `add${dtypeSuffix(d)}`;
  const pairs = anyHalf(d.a, d.b, d.out);
  return cachedSpec(name, () => ({
    name,
    bindings: [
      { name: "a", dtype: d.a },
      { name: "b", dtype: d.b },
      { name: "out", dtype: d.out, write: true },
    ],
    uniforms: [["n", "u32"]],
    workgroupSize: [WG],
    prelude: pairs ? store2nWgsl("out", d.out) : undefined,
    body: `${head(pairs)}
  ${
      pairs
        ? "out_store2n(i, a_load2(i) + b_load2(i), u.n);"
        : "out_store(i, a_load(i) + b_load(i));"
    }`,
  }));
}

function scaleAccSpec(d: { x: FloatDType; out: FloatDType }): KernelSpec {
  const name = `scale_acc${dtypeSuffix(d)}`;
  const pairs = anyHalf(d.x, d.out);
  const [load, zero] = pairs ? ["_load2(i)", "vec2f(0.0)"] : ["_load(i)", "0.0"];
  return cachedSpec(name, () => ({
    name,
    bindings: [{ name: "x", dtype: d.x }, { name: "out", dtype: d.out, write: true }],
    uniforms: [["n", "u32"], ["alpha", "f32"], ["beta", "f32"]],
    workgroupSize: [WG],
    prelude: pairs ? store2nWgsl("out", d.out) : undefined,
    body: `${head(pairs)}
  let prev = select(${zero}, out${load}, u.beta != 0.0);
  ${
      pairs
        ? "out_store2n(i, u.alpha * x_load2(i) + u.beta * prev, u.n);"
        : "out_store(i, u.alpha * x_load(i) + u.beta * prev);"
    }`,
  }));
}

const FILL: KernelSpec = {
  name: "fill",
  bindings: [{ name: "out", type: "u32", write: true }],
  uniforms: [["n", "u32"], ["bits", "u32"]],
  workgroupSize: [WG],
  body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  out[i] = u.bits;`,
};

/** Fill of a 16-bit tensor of odd size: its last word keeps its high half (the next element). */
const FILL_ODD: KernelSpec = {
  name: "fill_odd_halves",
  bindings: [{ name: "out", type: "u32", write: true }],
  uniforms: [["n", "u32"], ["bits", "u32"]],
  workgroupSize: [WG],
  body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  out[i] = select(u.bits, (out[i] & 0xffff0000u) | (u.bits & 0xffffu), i == u.n - 1u);`,
};

function sameSize(op: string, ...ts: Tensor[]): number {
  const n = ts[0].size;
  for (const t of ts) {
    if (t.size !== n) throw new Error(`${op}: size mismatch ${ts.map(String).join(" vs ")}`);
  }
  return n;
}

/** Invocations of an elementwise kernel over n elements: n, or pairs. */
function items(n: number, pairs: boolean): number {
  return pairs ? Math.ceil(n / 2) : n;
}

/**
 * out[i] = a[i] + b[i]; each of out, a, b f32, f16 or bf16 (f32 arithmetic, one rounding to
 * out's dtype). `out` may alias `a` or `b`.
 */
export function add(enc: Encoder, out: Tensor, a: Tensor, b: Tensor): void {
  const op = "add";
  const n = sameSize(op, out, a, b);
  const d = {
    a: needFloat(op, "a", a, n, enc.gpu),
    b: needFloat(op, "b", b, n, enc.gpu),
    out: needFloat(op, "out", out, n, enc.gpu),
  };
  const pairs = anyHalf(d.a, d.b, d.out);
  enc.dispatch(addSpec(d), { a, b, out }, { n }, groups1d(items(n, pairs), WG));
}

/**
 * out[i] = alpha * x[i] + beta * out[i] (beta = 0 ignores out's old contents, even NaN); x and
 * out f32, f16 or bf16.
 */
export function scaleAcc(enc: Encoder, out: Tensor, x: Tensor, alpha: number, beta = 0): void {
  const op = "scaleAcc";
  const n = sameSize(op, out, x);
  const d = { x: needFloat(op, "x", x, n, enc.gpu), out: needFloat(op, "out", out, n, enc.gpu) };
  const pairs = anyHalf(d.x, d.out);
  enc.dispatch(scaleAccSpec(d), { x, out }, { n, alpha, beta }, groups1d(items(n, pairs), WG));
}

/**
 * Fill `out` with `value`: every element of an f16 or bf16 tensor with `value` rounded to it
 * (an odd-sized view leaves its parent's next element alone); every u32 word of any other
 * tensor with the bit pattern of f32 `value`, or with `value` as u32 when `asU32`.
 */
export function fill(enc: Encoder, out: Tensor, value: number, asU32 = false): void {
  const n = out.bytes / 4;
  if (!asU32 && (out.dtype === "f16" || out.dtype === "bf16")) {
    const h = toHalfBits(out.dtype, value);
    const spec = out.size % 2 === 1 ? FILL_ODD : FILL;
    enc.dispatch(spec, { out }, { n, bits: (h | (h << 16)) >>> 0 }, groups1d(n, WG));
    return;
  }
  const bits = asU32 ? value >>> 0 : new Uint32Array(new Float32Array([value]).buffer)[0];
  enc.dispatch(FILL, { out }, { n, bits }, groups1d(n, WG));
}

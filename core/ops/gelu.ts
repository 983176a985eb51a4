/**
 * GELU (baseline: backward keeps the input x). Flat shapes: n elements (N*4C in the FFN).
 * Forms: "erf" y = x * Phi(x) (BERT), "tanh" y = 0.5 x (1 + tanh(k (x + 0.044715 x^3))),
 * k = sqrt(2/pi) (GPT-2). Backward dx = dy * gelu'(x), the exact derivative of the form.
 *
 * WGSL has no erf: Phi comes from erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2), the
 * Chebyshev fit of Numerical Recipes (relative error < 1.2e-7 for all z >= 0), so the left tail
 * (x << 0) keeps its relative accuracy; Phi(x) = 1 - erfc(x / sqrt 2) / 2 for x >= 0. The tanh
 * form is evaluated as x * s, s = 1 / (1 + exp(-2a)), both tails without cancellation.
 *
 * Operands are f32, f16 or bf16, each its own (a 16-bit input with an f32 output, say); the
 * arithmetic is f32 and each output is rounded once to its dtype (pairs of elements per
 * invocation when an operand is 16-bit: `half_kernels.ts`).
 * @module
 */
import { type FloatDType, isHalf } from "../dtype.ts";
import type { Bindable, Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX, type TypedBindingSpec } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needFloat } from "./checks.ts";
import { type ChunkOptions, elementUnit, spanOf, spans, widestElement } from "./chunking.ts";
import { anyHalf, dtypeSuffix, store2nWgsl } from "./half_kernels.ts";

/** GELU variant. */
export type GeluForm = "erf" | "tanh";

/**
 * WGSL helpers: `gelu_erf(x)`, `gelu_erf_grad(x)`, `gelu_tanh(x)`, `gelu_tanh_grad(x)` (value and
 * exact derivative), `std_normal_cdf(x)`, `erfc_pos(z)` and `erfc_poly(t)` (z >= 0,
 * erfc(z) = t exp(erfc_poly(t) - z^2), t = 1 / (1 + z/2)), `gelu_tanh_sig(x)` = (s, 1 - s).
 */
export const GELU_WGSL = `
// erfc(z) = t exp(erfc_poly(t) - z^2), t = 1 / (1 + z/2), z >= 0 (Numerical Recipes' erfcc).
fn erfc_poly(t: f32) -> f32 {
  return -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
}
fn erfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  return t * exp(erfc_poly(t) - z * z);
}
fn std_normal_cdf(x: f32) -> f32 {
  let e = 0.5 * erfc_pos(abs(x) * 0.70710678118654752);
  return select(e, 1.0 - e, x >= 0.0);
}
fn gelu_erf(x: f32) -> f32 { return x * std_normal_cdf(x); }
fn gelu_erf_grad(x: f32) -> f32 {
  return std_normal_cdf(x) + x * (0.39894228040143268 * exp(-0.5 * x * x));
}
// (s, 1 - s) with s = sigmoid(2a), a = k (x + 0.044715 x^3); one exp, no overflow.
fn gelu_tanh_sig(x: f32) -> vec2f {
  let a = 0.79788456080286536 * (x + 0.044715 * x * x * x);
  let e = exp(-2.0 * abs(a));
  let big = 1.0 / (1.0 + e);
  let small = e / (1.0 + e);
  return select(vec2f(small, big), vec2f(big, small), a >= 0.0);
}
fn gelu_tanh(x: f32) -> f32 { return x * gelu_tanh_sig(x).x; }
fn gelu_tanh_grad(x: f32) -> f32 {
  let s = gelu_tanh_sig(x);
  let da = 0.79788456080286536 * (1.0 + 0.134145 * x * x);
  return s.x + 2.0 * x * s.x * s.y * da;
}
`;

const WG = 64;

/** The float dtypes of a GELU kernel's operands (in place: the output's only). */
type Dtypes = Readonly<Record<string, FloatDType>>;

function spec(kind: "fwd" | "bwd", form: GeluForm, d: Dtypes): KernelSpec {
  const inPlace = kind === "fwd" ? !("x" in d) : !("dy" in d);
  const name = `gelu_${kind}_${form}${inPlace ? "_inplace" : ""}${dtypeSuffix(d)}`;
  return cachedSpec(name, () => specOf(name, kind, form, d, inPlace));
}

function specOf(
  name: string,
  kind: "fwd" | "bwd",
  form: GeluForm,
  d: Dtypes,
  inPlace: boolean,
): KernelSpec {
  const pairs = anyHalf(...Object.values(d));
  const out = kind === "fwd" ? "y" : "dx";
  const src = kind === "fwd" ? (inPlace ? "y" : "x") : inPlace ? "dx" : "dy";
  // One element per invocation, or a pair when an operand is 16-bit.
  const body = kind === "fwd"
    ? pairs
      ? `let v = ${src}_load2(i);
  y_store2n(i, vec2f(gelu_${form}(v.x), gelu_${form}(v.y)), u.n);`
      : `y_store(i, gelu_${form}(${src}_load(i)));`
    : pairs
    ? `let v = x_load2(i);
  dx_store2n(i, ${src}_load2(i) * vec2f(gelu_${form}_grad(v.x), gelu_${form}_grad(v.y)), u.n);`
    : `dx_store(i, ${src}_load(i) * gelu_${form}_grad(x_load(i)));`;
  const bindings: TypedBindingSpec[] = [];
  if (kind === "fwd" && !inPlace) bindings.push({ name: "x", dtype: d.x });
  if (kind === "bwd") {
    if (!inPlace) bindings.push({ name: "dy", dtype: d.dy });
    bindings.push({ name: "x", dtype: d.x });
  }
  bindings.push({ name: out, dtype: d[out], write: true });
  return {
    name,
    bindings,
    uniforms: [["n", "u32"]],
    workgroupSize: [WG],
    prelude: GELU_WGSL + (pairs ? store2nWgsl(out, d[out]) : ""),
    body: `${LINEAR_INDEX}
  if (i >= ${pairs ? "(u.n + 1u) / 2u" : "u.n"}) { return; }
  ${body}`,
  };
}

/**
 * Dispatch an elementwise kernel over n elements of `tensors` (any float dtypes), chunked to fit
 * bindings: spans start at multiples of storageAlign / 4 elements (/ 2 with a 16-bit operand),
 * so every operand's offset aligns and 16-bit spans start on whole words.
 */
function elementwise(
  enc: Encoder,
  s: KernelSpec,
  tensors: Record<string, Tensor>,
  n: number,
  maxBindingBytes?: number,
): void {
  const gpu = enc.gpu;
  if (!gpu || n === 0) return;
  const dtypes = Object.values(tensors).map((t) => t.dtype);
  const unit = elementUnit(gpu, dtypes), itemBytes = widestElement(dtypes);
  const per = dtypes.some(isHalf) ? 2 : 1;
  const what = "elements";
  for (const sp of spans(s.name, gpu, { count: n, itemBytes, unit, what, maxBindingBytes })) {
    const b: Record<string, Bindable> = {};
    for (const [k, t] of Object.entries(tensors)) b[k] = spanOf(t, sp);
    enc.dispatch(s, b, { n: sp.count }, groups1d(Math.ceil(sp.count / per), WG));
  }
}

/** What `geluForward` reads and writes. */
export interface GeluForwardArgs extends ChunkOptions {
  /** [n] f32, f16 or bf16 output; may alias x. */
  y: Tensor;
  /** [n] f32, f16 or bf16 input. */
  x: Tensor;
  /** Elements. */
  n: number;
  /** erf (BERT) or tanh (GPT-2). */
  form: GeluForm;
}

/** y = gelu(x) over n elements. `y` may alias `x`. */
export function geluForward(enc: Encoder, a: GeluForwardArgs): void {
  const { y, x, n, form } = a;
  const op = "geluForward";
  const dy = needFloat(op, "y", y, n, enc.gpu), dx = needFloat(op, "x", x, n, enc.gpu);
  const inPlace = y === x;
  const tensors: Record<string, Tensor> = inPlace ? { y } : { x, y };
  const d: Dtypes = inPlace ? { y: dy } : { x: dx, y: dy };
  elementwise(enc, spec("fwd", form, d), tensors, n, a.maxBindingBytes);
}

/** What `geluBackward` reads and writes. */
export interface GeluBackwardArgs extends ChunkOptions {
  /** [n] f32, f16 or bf16 output; may alias dy. */
  dx: Tensor;
  /** [n] f32, f16 or bf16 upstream gradient. */
  dy: Tensor;
  /** [n] f32, f16 or bf16 forward input. */
  x: Tensor;
  /** Elements. */
  n: number;
  /** The forward's form. */
  form: GeluForm;
}

/** dx = dy * gelu'(x) over n elements (exact derivative of the form). `dx` may alias `dy`. */
export function geluBackward(enc: Encoder, a: GeluBackwardArgs): void {
  const { dx, dy, x, n, form } = a;
  const op = "geluBackward";
  const d = {
    dy: needFloat(op, "dy", dy, n, enc.gpu),
    x: needFloat(op, "x", x, n, enc.gpu),
    dx: needFloat(op, "dx", dx, n, enc.gpu),
  };
  if (dx === x) throw new Error("geluBackward: dx aliasing x is unsupported");
  const inPlace = dx === dy;
  const tensors: Record<string, Tensor> = inPlace ? { x, dx } : { dy, x, dx };
  const ds: Dtypes = inPlace ? { x: d.x, dx: d.dx } : d;
  elementwise(enc, spec("bwd", form, ds), tensors, n, a.maxBindingBytes);
}

/**
 * GELU (baseline: backward keeps the input x). Flat shapes: n elements (N*4C in the FFN).
 * Forms: "erf" y = x * Phi(x) (BERT), "tanh" y = 0.5 x (1 + tanh(k (x + 0.044715 x^3))),
 * k = sqrt(2/pi) (GPT-2). Backward dx = dy * gelu'(x), the exact derivative of the form.
 *
 * WGSL has no erf: Phi comes from erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2), the
 * Chebyshev fit of Numerical Recipes (relative error < 1.2e-7 for all z >= 0), so the left tail
 * (x << 0) keeps its relative accuracy; Phi(x) = 1 - erfc(x / sqrt 2) / 2 for x >= 0. The tanh
 * form is evaluated as x * s, s = 1 / (1 + exp(-2a)), both tails without cancellation.
 * @module
 */
import type { Bindable, Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needF32 } from "./checks.ts";
import { type ChunkOptions, spanRange, spans } from "./chunking.ts";

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

function spec(kind: "fwd" | "bwd", form: GeluForm, inPlace: boolean): KernelSpec {
  const name = `gelu_${kind}_${form}${inPlace ? "_inplace" : ""}`;
  return cachedSpec(name, () => specOf(name, kind, form, inPlace));
}

function specOf(name: string, kind: "fwd" | "bwd", form: GeluForm, inPlace: boolean): KernelSpec {
  const body = kind === "fwd"
    ? `y[i] = gelu_${form}(${inPlace ? "y" : "x"}[i]);`
    : `dx[i] = ${inPlace ? "dx" : "dy"}[i] * gelu_${form}_grad(x[i]);`;
  return {
    name,
    bindings: kind === "fwd"
      ? [...(inPlace ? [] : [{ name: "x", type: "f32" as const }]), {
        name: "y",
        type: "f32",
        write: true,
      }]
      : [...(inPlace ? [] : [{ name: "dy", type: "f32" as const }]), { name: "x", type: "f32" }, {
        name: "dx",
        type: "f32",
        write: true,
      }],
    uniforms: [["n", "u32"]],
    workgroupSize: [WG],
    prelude: GELU_WGSL,
    body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  ${body}`,
  };
}

/** Dispatch an elementwise kernel over n f32 elements, chunked to fit bindings. */
function elementwise(
  enc: Encoder,
  s: KernelSpec,
  tensors: Record<string, Tensor>,
  n: number,
  maxBindingBytes?: number,
): void {
  const gpu = enc.gpu;
  if (!gpu || n === 0) return;
  const unit = gpu.storageAlign / 4;
  const what = "elements";
  for (const sp of spans(s.name, gpu, { count: n, itemBytes: 4, unit, what, maxBindingBytes })) {
    const b: Record<string, Bindable> = {};
    for (const [k, t] of Object.entries(tensors)) b[k] = spanRange(t, sp, 4);
    enc.dispatch(s, b, { n: sp.count }, groups1d(sp.count, WG));
  }
}

/** What `geluForward` reads and writes. */
export interface GeluForwardArgs extends ChunkOptions {
  /** [n] f32 output; may alias x. */
  y: Tensor;
  /** [n] f32 input. */
  x: Tensor;
  /** Elements. */
  n: number;
  /** erf (BERT) or tanh (GPT-2). */
  form: GeluForm;
}

/** y = gelu(x) over n elements. `y` may alias `x`. */
export function geluForward(enc: Encoder, a: GeluForwardArgs): void {
  const { y, x, n, form } = a;
  needF32("geluForward", "y", y, n);
  needF32("geluForward", "x", x, n);
  const inPlace = y === x;
  const tensors: Record<string, Tensor> = inPlace ? { y } : { x, y };
  elementwise(enc, spec("fwd", form, inPlace), tensors, n, a.maxBindingBytes);
}

/** What `geluBackward` reads and writes. */
export interface GeluBackwardArgs extends ChunkOptions {
  /** [n] f32 output; may alias dy. */
  dx: Tensor;
  /** [n] f32 upstream gradient. */
  dy: Tensor;
  /** [n] f32 forward input. */
  x: Tensor;
  /** Elements. */
  n: number;
  /** The forward's form. */
  form: GeluForm;
}

/** dx = dy * gelu'(x) over n elements (exact derivative of the form). `dx` may alias `dy`. */
export function geluBackward(enc: Encoder, a: GeluBackwardArgs): void {
  const { dx, dy, x, n, form } = a;
  for (const [name, t] of [["dx", dx], ["dy", dy], ["x", x]] as const) {
    needF32("geluBackward", name, t, n);
  }
  if (dx === x) throw new Error("geluBackward: dx aliasing x is unsupported");
  const inPlace = dx === dy;
  const tensors: Record<string, Tensor> = inPlace ? { x, dx } : { dy, x, dx };
  elementwise(enc, spec("bwd", form, inPlace), tensors, n, a.maxBindingBytes);
}

/**
 * Tempo GELU: forward keeps the output y (FFN2 needs it anyway) and one branch bit per element,
 * m = [x >= x_min]; backward recovers x from (y, m) by Newton's method on gelu(x) = y and applies
 * the exact derivative. Flat shapes: n elements (N*4C in the FFN). Masks pack as in dropout:
 * "u8" (byte k of word w = element 4w + k) or "bit" (bit k of word w = element 32w + k); one
 * invocation per mask word (no atomics), mask bits past n - 1 are 0.
 *
 * Inversion (per element, f32): start on the branch given by m from the parabola at the minimum,
 * x0 = x_min +/- sqrt((max(y, y_min) - y_min) / 0.2161); on the right branch with y > 1 from
 * x0 = y (gelu(x) ~ x there); on the left branch with y > -0.12 from the tail asymptote
 * -y ~ phi(x), x0 = min(parabola, -sqrt(-2 (ln(-y) + ln sqrt(2 pi)))) (ln(-y) clamped at -y >=
 * 1e-30). Then `GELU_TEMPO_STEPS` Newton steps x -= (gelu(x) - y) / gelu'(x), skipped where
 * |gelu'(x)| <= 1e-30, each clamped back onto the branch (x >= x_min when m = 1, else <= x_min).
 *
 * The inversion is arithmetic-bound; on the software adapter (llvmpipe runs 8 invocations as SIMD
 * lanes and executes both sides of a branch when the lanes disagree) the bit-mask backward visits
 * each word's right-branch elements first, then its left-branch ones, so that neighbouring lanes
 * mostly take the same branch (~15% faster, the same bits: only the order of elements changes).
 * The kernel policy picks the order (`geluTempo`: `grouped` or `ordered`).
 *
 * x, y, dy, dx are f32, f16 or bf16, each its own; the inversion runs in f32 on the stored y
 * (a 16-bit y makes it start from a 16-bit-rounded output: the error floor near x_min grows with
 * the square root of y's rounding, issue 11's measurement). 16-bit operands make each
 * invocation take its elements in pairs (the grouped order stores them in pairs afterwards).
 * @module
 */
import type { Bindable, Encoder } from "../encoder.ts";
import { bytesOf, type FloatDType } from "../dtype.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { GELU_WGSL, type GeluForm } from "./gelu.ts";
import { needFloat, needMask } from "./checks.ts";
import { type ChunkOptions, spanOf, spans, widestElement } from "./chunking.ts";
import { anyHalf, dtypeSuffix, store2nWgsl } from "./half_kernels.ts";

/** Branch-mask packing. */
export type GeluMaskDtype = "u8" | "bit";

/** Minimum of each GELU form: x_min, y_min = gelu(x_min) (checked in f64 by the tests). */
export const GELU_MIN: Record<GeluForm, { x: number; y: number }> = {
  erf: { x: -0.7517915, y: -0.1699712 },
  tanh: { x: -0.7524614, y: -0.1700408 },
};

/**
 * Taylor expansion of gelu around c = f32(x_min) (the mask threshold: m = [x >= c]):
 * gelu(c + d) = y0 + a[0] d + a[1] d^2 + ... + a[7] d^8 for |d| <= GELU_TEMPO_RADIUS (truncation
 * < 3e-12). Coefficients from mpmath at 50 digits; the tests check them against the reference.
 */
export const GELU_TEMPO_POLY: Record<GeluForm, { c: number; y0: number; a: readonly number[] }> = {
  erf: {
    c: -0.7517915368080139,
    y0: -0.16997120747990363,
    a: [
      -5.22731210458e-9,
      0.215746991453,
      0.129428327884,
      -0.00454991771852,
      -0.0228016464805,
      -0.00246192059332,
      0.00277452563618,
      0.000567403574521,
    ],
  },
  tanh: {
    c: -0.7524614334106445,
    y0: -0.17004075057125402,
    a: [
      -4.88057699095e-9,
      0.215200041118,
      0.129172815558,
      -0.00394571208837,
      -0.0227888964277,
      -0.00276988828037,
      0.0028117584346,
      0.000657632434338,
    ],
  },
};

/** Half-width of the window around x_min where forward and backward use the Taylor polynomial. */
export const GELU_TEMPO_RADIUS = 0.125;
/** Backward solves the polynomial when y - y_min < this (roots |d| < 0.123 on both branches). */
export const GELU_TEMPO_POLY_Y = 0.003;

/** Curvature constant of the starting parabola: gelu(x) ~ y_min + 0.2161 (x - x_min)^2. */
export const GELU_PARABOLA = 0.2161;

/** Newton steps of an inversion, on the right (x >= x_min) and on the left branch. */
export interface GeluTempoSteps {
  /** Newton steps on gelu(x) = y from the right-branch start. */
  right: number;
  /** Newton steps on ln(-gelu(x)) = ln(-y) from the left-branch start. */
  left: number;
}

/**
 * Newton steps of the backward's inversion per form, the fewest that meet the GPU test's bounds
 * (input-gradient error <= 2e-6 away from x_min). Measured in f32 on a grid over [-8, 8]: erf
 * needs 3 on both branches (2: 1.3e-4 near x in [-1, 1]); tanh 3 on the right, 4 on the left
 * (3: 2.1e-5 at x in [-3, -2], where its cube-root start is coarsest).
 */
export const GELU_TEMPO_STEPS: Record<GeluForm, GeluTempoSteps> = {
  erf: { right: 3, left: 3 },
  tanh: { right: 3, left: 4 },
};

function lit(v: number): string {
  const s = String(v);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/**
 * WGSL of one form: `gelu_<f>_t(x)` (forward: the polynomial near x_min, else `gelu_<f>`),
 * `gelu_<f>_lnneg(x)` = ln(-gelu(x)) and `gelu_<f>_dlnneg(x)` its derivative (x < 0, no
 * underflow), `gelu_<f>_inverse(y, right, steps)` -> (x, gelu'(x)) (steps: right, left). Needs GELU_WGSL.
 */
export function geluTempoWgsl(form: GeluForm): string {
  const f = form;
  const { c, y0, a } = GELU_TEMPO_POLY[form];
  const hi = Math.fround(y0), lo = Math.fround(y0 - hi);
  const horner = (cs: readonly number[]) =>
    cs.slice(0, -1).map((v) => `${lit(v)} + d * (`).join("") + lit(cs[cs.length - 1]) +
    ")".repeat(cs.length - 1);
  const lnneg = form === "erf"
    ? `let z = -x * 0.70710678118654752;
  let t = 1.0 / (1.0 + 0.5 * z);
  return log(-x) + log(0.5 * t) + erfc_poly(t) - z * z;`
    : `let a = 0.79788456080286536 * (x + 0.044715 * x * x * x);
  return log(-x) + 2.0 * a - log(1.0 + exp(2.0 * a));`;
  const dlnneg = form === "erf"
    ? `let z = -x * 0.70710678118654752;
  let t = 1.0 / (1.0 + 0.5 * z);
  return 1.0 / x + 0.79788456080286536 / (t * exp(erfc_poly(t)));`
    : `let a = 0.79788456080286536 * (x + 0.044715 * x * x * x);
  return 1.0 / x + 2.0 / (1.0 + exp(2.0 * a)) * 0.79788456080286536 * (1.0 + 0.134145 * x * x);`;
  // Left start, a point left of the root (log-Newton then rises monotonically): erf, Mills'
  // inequality -y <= phi(u); tanh, -y <= u exp(2a) gives u^3 <= (-ln(-y) - 1) / (2k 0.044715).
  const leftU = form === "erf"
    ? "sqrt(max(-2.0 * (l + 0.91893853320467274), 0.0))"
    : "pow(max(-l - 1.0, 1e-6) / 0.0713560259, 1.0 / 3.0)";
  return `
fn gelu_${f}_q(d: f32) -> f32 { return d * (${horner(a)}); }
fn gelu_${f}_dq(d: f32) -> f32 { return ${horner(a.map((v, k) => (k + 1) * v))}; }
fn gelu_${f}_t(x: f32) -> f32 {
  let d = x - ${lit(c)};
  if (abs(d) <= ${lit(GELU_TEMPO_RADIUS)}) { return ${lit(hi)} + (${lit(lo)} + gelu_${f}_q(d)); }
  return gelu_${f}(x);
}
fn gelu_${f}_lnneg(x: f32) -> f32 {
  ${lnneg}
}
fn gelu_${f}_dlnneg(x: f32) -> f32 {
  ${dlnneg}
}
fn gelu_${f}_inverse(y: f32, right: bool, steps: vec2u) -> vec2f {
  let c = ${lit(c)};
  let r = (y - ${lit(hi)}) - ${lit(lo)};
  if (r < ${lit(GELU_TEMPO_POLY_Y)}) {
    let rr = max(r, 0.0);
    var d = select(-1.0, 1.0, right) * sqrt(rr / ${lit(a[1])});
    for (var k = 0u; k < 3u; k++) {
      let dq = gelu_${f}_dq(d);
      if (abs(dq) > 1e-30) { d = d - (gelu_${f}_q(d) - rr) / dq; }
      d = select(min(d, 0.0), max(d, 0.0), right);
    }
    return vec2f(c + d, gelu_${f}_dq(d));
  }
  var x: f32;
  if (right) {
    x = select(c + sqrt(r / ${lit(GELU_PARABOLA)}), y, y > 1.0);
    for (var k = 0u; k < steps.x; k++) {
      let g = gelu_${f}_grad(x);
      if (abs(g) > 1e-30) { x = x - (gelu_${f}_t(x) - y) / g; }
      x = max(x, c);
    }
  } else {
    let l = log(max(-y, 1e-30));
    x = -${leftU};
    if (y <= -0.115) { x = max(x, c - sqrt(r / 0.13)); }
    x = min(x, c);
    for (var k = 0u; k < steps.y; k++) {
      let g = gelu_${f}_dlnneg(x);
      if (g > 1e-30) { x = x - (gelu_${f}_lnneg(x) - l) / g; }
      x = min(x, c);
    }
  }
  return vec2f(x, gelu_${f}_grad(x));
}
`;
}

const WG = 64;

/**
 * The bit-mask backward's loop over a word's elements, right-branch ones first. f32 stores each
 * gradient as it goes; with 16-bit operands (`pairs`) the factors gelu'(x) go into a private
 * array and are stored in pairs, in order, afterwards (a 16-bit output is written whole words).
 */
function groupedLoop(form: GeluForm, inPlace: boolean, pairs: boolean): string {
  const DY = inPlace ? "dx" : "dy";
  return `let valid = select(0xffffffffu, (1u << cnt) - 1u, cnt < 32u);
  var rm = bits & valid;
  var lm = ~bits & valid;
  ${pairs ? "var gs: array<f32, 32>;" : ""}
  for (var t = 0u; t < cnt; t++) {
    let right = rm != 0u;
    let k = firstTrailingBit(select(lm, rm, right));
    rm = select(rm, rm & (rm - 1u), right);
    lm = select(lm & (lm - 1u), lm, right);
    let e = e0 + k;
    let xg = gelu_${form}_inverse(y_load(e), right, vec2u(u.steps, u.stepsLeft));
    ${pairs ? "gs[k] = xg.y;" : `dx_store(e, ${DY}_load(e) * xg.y);`}
  }${
    pairs
      ? `
  for (var k = 0u; k < cnt; k += 2u) {
    let p = (e0 + k) / 2u;
    dx_store2n(p, ${DY}_load2(p) * vec2f(gs[k], gs[k + 1u]), u.n);
  }`
      : ""
  }`;
}

/** Elements per invocation (= per mask word) of a mask packing. */
function perWord(dt: GeluMaskDtype): number {
  return dt === "bit" ? 32 : 4;
}

/** Float dtypes of a Tempo GELU kernel's operands (in place: without x, or without dy). */
type Dtypes = Readonly<Record<string, FloatDType>>;

function specOf(
  kind: "fwd" | "bwd",
  form: GeluForm,
  dt: GeluMaskDtype,
  d: Dtypes,
  grouped = false,
): KernelSpec {
  const inPlace = kind === "fwd" ? !("x" in d) : !("dy" in d);
  const name =
    (kind === "fwd"
      ? `gelu_tempo_fwd_${form}_${dt}${inPlace ? "_inplace" : ""}`
      : `gelu_tempo_bwd_${form}_${dt}${grouped ? "_grouped" : ""}${inPlace ? "_inplace" : ""}`) +
    dtypeSuffix(d);
  return cachedSpec(name, () => makeSpec(name, kind, form, dt, d, inPlace, grouped));
}

function makeSpec(
  name: string,
  kind: "fwd" | "bwd",
  form: GeluForm,
  dt: GeluMaskDtype,
  d: Dtypes,
  inPlace: boolean,
  grouped: boolean,
): KernelSpec {
  const g = perWord(dt);
  const shiftOf = (k: string) => (dt === "bit" ? k : `8u * ${k}`);
  const shift = shiftOf("k");
  const xmin = lit(GELU_TEMPO_POLY[form].c);
  // f32: one element per step; 16-bit operands: a pair per step (k even; e0 is a multiple of 4),
  // the second element of the last pair past cnt neither stored nor flagged in the mask.
  const pairs = anyHalf(...Object.values(d));
  const X = inPlace ? "y" : "x";
  if (kind === "fwd") {
    const loop = pairs
      ? `for (var k = 0u; k < cnt; k += 2u) {
    let p = (e0 + k) / 2u;
    let v = ${X}_load2(p);
    y_store2n(p, vec2f(gelu_${form}_t(v.x), gelu_${form}_t(v.y)), u.n);
    packed |= (select(0u, 1u, v.x >= ${xmin}) << (${shift})) |
      (select(0u, 1u, v.y >= ${xmin} && k + 1u < cnt) << (${shiftOf("(k + 1u)")}));
  }`
      : `for (var k = 0u; k < cnt; k++) {
    let v = ${X}_load(e0 + k);
    y_store(e0 + k, gelu_${form}_t(v));
    packed |= select(0u, 1u, v >= ${xmin}) << (${shift});
  }`;
    return {
      name,
      bindings: [
        ...(inPlace ? [] : [{ name: "x", dtype: d.x }]),
        { name: "y", dtype: d.y, write: true },
        { name: "mask", type: "u32", write: true },
      ],
      uniforms: [["n", "u32"]],
      workgroupSize: [WG],
      prelude: GELU_WGSL + geluTempoWgsl(form) + (pairs ? store2nWgsl("y", d.y) : ""),
      body: `${LINEAR_INDEX}
  if (i >= (u.n + ${g - 1}u) / ${g}u) { return; }
  let e0 = i * ${g}u;
  let cnt = min(${g}u, u.n - e0);
  var packed = 0u;
  ${loop}
  mask[i] = packed;`,
    };
  }
  const DY = inPlace ? "dx" : "dy";
  const rightOf = (k: string) =>
    `((bits >> (${shiftOf(k)})) & ${dt === "bit" ? "1u" : "0xffu"}) != 0u`;
  const steps = "vec2u(u.steps, u.stepsLeft)";
  const ordered = pairs
    ? `for (var k = 0u; k < cnt; k += 2u) {
    let p = (e0 + k) / 2u;
    let yv = y_load2(p);
    let g0 = gelu_${form}_inverse(yv.x, ${rightOf("k")}, ${steps}).y;
    var g1 = 0.0;
    if (k + 1u < cnt) { g1 = gelu_${form}_inverse(yv.y, ${rightOf("(k + 1u)")}, ${steps}).y; }
    dx_store2n(p, ${DY}_load2(p) * vec2f(g0, g1), u.n);
  }`
    : `for (var k = 0u; k < cnt; k++) {
    let e = e0 + k;
    let right = ${rightOf("k")};
    let xg = gelu_${form}_inverse(y_load(e), right, ${steps});
    dx_store(e, ${DY}_load(e) * xg.y);
  }`;
  return {
    name,
    bindings: [
      ...(inPlace ? [] : [{ name: "dy", dtype: d.dy }]),
      { name: "y", dtype: d.y },
      { name: "mask", type: "u32" },
      { name: "dx", dtype: d.dx, write: true },
    ],
    uniforms: [["n", "u32"], ["steps", "u32"], ["stepsLeft", "u32"]],
    workgroupSize: [WG],
    prelude: GELU_WGSL + geluTempoWgsl(form) + (pairs ? store2nWgsl("dx", d.dx) : ""),
    body: `${LINEAR_INDEX}
  if (i >= (u.n + ${g - 1}u) / ${g}u) { return; }
  let e0 = i * ${g}u;
  let cnt = min(${g}u, u.n - e0);
  let bits = mask[i];
  ${grouped ? groupedLoop(form, inPlace, pairs) : ordered}`,
  };
}

/** Dispatch over n elements in chunks (multiples of 8 * storageAlign elements: aligned offsets). */
function run(
  enc: Encoder,
  spec: KernelSpec,
  floats: Record<string, Tensor>,
  mask: Tensor,
  dt: GeluMaskDtype,
  n: number,
  uniforms: Record<string, number>,
  maxBindingBytes?: number,
): void {
  const gpu = enc.gpu;
  if (!gpu || n === 0) return;
  // 8 * storageAlign elements: f32, f16, bf16, byte-mask and bit-mask offsets all aligned.
  const unit = 8 * gpu.storageAlign, what = `elements (${unit} at a time)`;
  const itemBytes = widestElement(Object.values(floats).map((t) => t.dtype));
  for (const sp of spans(spec.name, gpu, { count: n, itemBytes, unit, what, maxBindingBytes })) {
    const b: Record<string, Bindable> = {
      mask: sp.whole ? mask : {
        tensor: mask,
        offset: bytesOf(dt, sp.first),
        size: bytesOf(dt, sp.count),
      },
    };
    for (const [name, t] of Object.entries(floats)) b[name] = spanOf(t, sp);
    const g = groups1d(Math.ceil(sp.count / perWord(dt)), WG);
    enc.dispatch(spec, b, { n: sp.count, ...uniforms }, g);
  }
}

/** What `geluTempoForward` reads and writes. */
export interface GeluTempoForwardArgs extends ChunkOptions {
  /** [n] f32, f16 or bf16 output; may alias x. */
  y: Tensor;
  /** [n] u8|bit branch mask output. */
  mask: Tensor;
  /** [n] f32, f16 or bf16 input. */
  x: Tensor;
  /** Elements. */
  n: number;
  /** erf (BERT) or tanh (GPT-2). */
  form: GeluForm;
  /** Mask packing. */
  maskDtype: GeluMaskDtype;
}

/**
 * Tempo GELU forward: y = gelu(x) and the branch mask m = [x >= x_min] packed per `maskDtype`.
 * `y` may alias `x`.
 */
export function geluTempoForward(enc: Encoder, a: GeluTempoForwardArgs): void {
  const { y, mask, x, n, form, maskDtype } = a;
  const op = "geluTempoForward";
  const dy = needFloat(op, "y", y, n, enc.gpu), dx = needFloat(op, "x", x, n, enc.gpu);
  needMask(op, mask, maskDtype, n);
  const inPlace = y === x;
  const spec = specOf("fwd", form, maskDtype, inPlace ? { y: dy } : { x: dx, y: dy });
  run(enc, spec, inPlace ? { y } : { x, y }, mask, maskDtype, n, {}, a.maxBindingBytes);
}

/** What `geluTempoBackward` reads and writes. */
export interface GeluTempoBackwardArgs extends ChunkOptions {
  /** [n] f32, f16 or bf16 output; may alias dy. */
  dx: Tensor;
  /** [n] f32, f16 or bf16 upstream gradient. */
  dy: Tensor;
  /** [n] f32, f16 or bf16 forward output. */
  y: Tensor;
  /** [n] u8|bit branch mask of the forward. */
  mask: Tensor;
  /** Elements. */
  n: number;
  /** The forward's form. */
  form: GeluForm;
  /** The forward's mask packing. */
  maskDtype: GeluMaskDtype;
  /** Newton steps per branch (default GELU_TEMPO_STEPS[form]). */
  steps?: GeluTempoSteps;
}

/**
 * Tempo GELU backward: dx = dy * gelu'(x) with x recovered from (y, mask) by Newton's method.
 * `dx` may alias `dy`.
 */
export function geluTempoBackward(enc: Encoder, a: GeluTempoBackwardArgs): void {
  const { dx, dy, y, mask, n, form, maskDtype } = a;
  const steps = a.steps ?? GELU_TEMPO_STEPS[form];
  const op = "geluTempoBackward";
  const d = {
    dy: needFloat(op, "dy", dy, n, enc.gpu),
    y: needFloat(op, "y", y, n, enc.gpu),
    dx: needFloat(op, "dx", dx, n, enc.gpu),
  };
  needMask(op, mask, maskDtype, n);
  if (dx === y) throw new Error(`${op}: dx aliasing y is unsupported`);
  const inPlace = dx === dy;
  const grouped = maskDtype === "bit" && enc.gpu?.kernels.geluTempo === "grouped";
  const spec = specOf("bwd", form, maskDtype, inPlace ? { y: d.y, dx: d.dx } : d, grouped);
  const floats: Record<string, Tensor> = inPlace ? { y, dx } : { dy, y, dx };
  run(enc, spec, floats, mask, maskDtype, n, {
    steps: steps.right,
    stepsLeft: steps.left,
  }, a.maxBindingBytes);
}

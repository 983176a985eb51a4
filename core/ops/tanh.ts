/**
 * tanh, elementwise over n elements (BERT's pooler). Backward from the output: dx = dy (1 - y^2).
 * Operands f32, f16 or bf16, each its own; f32 arithmetic, pairs of elements per invocation when
 * an operand is 16-bit (`half_kernels.ts`).
 * @module
 */
import type { FloatDType } from "../dtype.ts";
import type { Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needFloat } from "./checks.ts";
import { anyHalf, dtypeSuffix, store2nWgsl } from "./half_kernels.ts";

const WG = 256;

// tanh(x) = 1 - 2 / (exp(2x) + 1): finite for any x (exp overflows to inf, giving exactly 1).
const TANH_WGSL = `
fn tanh_fwd(x: f32) -> f32 {
  let v = clamp(x, -15.0, 15.0);
  return 1.0 - 2.0 / (exp(2.0 * v) + 1.0);
}`;

function fwdSpec(d: { x: FloatDType; y: FloatDType }): KernelSpec {
  const name = `tanh_fwd${dtypeSuffix(d)}`;
  const pairs = anyHalf(d.x, d.y);
  return cachedSpec(name, () => ({
    name,
    bindings: [{ name: "x", dtype: d.x }, { name: "y", dtype: d.y, write: true }],
    uniforms: [["n", "u32"]],
    workgroupSize: [WG],
    prelude: TANH_WGSL + (pairs ? `\n${store2nWgsl("y", d.y)}` : ""),
    body: pairs
      ? `${LINEAR_INDEX}
  if (i >= (u.n + 1u) / 2u) { return; }
  let v = x_load2(i);
  y_store2n(i, vec2f(tanh_fwd(v.x), tanh_fwd(v.y)), u.n);`
      : `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  y_store(i, tanh_fwd(x_load(i)));`,
  }));
}

function bwdSpec(d: { dy: FloatDType; y: FloatDType; dx: FloatDType }): KernelSpec {
  const name = `tanh_bwd${dtypeSuffix(d)}`;
  const pairs = anyHalf(d.dy, d.y, d.dx);
  return cachedSpec(name, () => ({
    name,
    bindings: [
      { name: "dy", dtype: d.dy },
      { name: "y", dtype: d.y },
      { name: "dx", dtype: d.dx, write: true },
    ],
    uniforms: [["n", "u32"]],
    workgroupSize: [WG],
    prelude: pairs ? store2nWgsl("dx", d.dx) : undefined,
    body: pairs
      ? `${LINEAR_INDEX}
  if (i >= (u.n + 1u) / 2u) { return; }
  let y2 = y_load2(i);
  dx_store2n(i, dy_load2(i) * (1.0 - y2 * y2), u.n);`
      : `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  let yi = y_load(i);
  dx_store(i, dy_load(i) * (1.0 - yi * yi));`,
  }));
}

/** y[n] = tanh(x[n]); x and y f32, f16 or bf16. */
export function tanhForward(enc: Encoder, y: Tensor, x: Tensor, n: number): void {
  const op = "tanhForward";
  const d = { x: needFloat(op, "x", x, n, enc.gpu), y: needFloat(op, "y", y, n, enc.gpu) };
  const per = anyHalf(d.x, d.y) ? 2 : 1;
  enc.dispatch(fwdSpec(d), { x, y }, { n }, groups1d(Math.ceil(n / per), WG));
}

/** dx[n] = dy[n] * (1 - y[n]^2), with y the forward's output; each f32, f16 or bf16. */
export function tanhBackward(enc: Encoder, dx: Tensor, dy: Tensor, y: Tensor, n: number): void {
  const op = "tanhBackward";
  const d = {
    dy: needFloat(op, "dy", dy, n, enc.gpu),
    y: needFloat(op, "y", y, n, enc.gpu),
    dx: needFloat(op, "dx", dx, n, enc.gpu),
  };
  const per = anyHalf(d.dy, d.y, d.dx) ? 2 : 1;
  enc.dispatch(bwdSpec(d), { dy, y, dx }, { n }, groups1d(Math.ceil(n / per), WG));
}

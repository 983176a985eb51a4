/**
 * tanh, elementwise over n elements (BERT's pooler). Backward from the output: dx = dy (1 - y^2).
 * @module
 */
import type { Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";

const WG = 256;

const FWD: KernelSpec = {
  name: "tanh_fwd",
  bindings: [{ name: "x", type: "f32" }, { name: "y", type: "f32", write: true }],
  uniforms: [["n", "u32"]],
  workgroupSize: [WG],
  // tanh(x) = 1 - 2 / (exp(2x) + 1): finite for any x (exp overflows to inf, giving exactly 1).
  body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  let v = clamp(x[i], -15.0, 15.0);
  y[i] = 1.0 - 2.0 / (exp(2.0 * v) + 1.0);`,
};

const BWD: KernelSpec = {
  name: "tanh_bwd",
  bindings: [
    { name: "dy", type: "f32" },
    { name: "y", type: "f32" },
    { name: "dx", type: "f32", write: true },
  ],
  uniforms: [["n", "u32"]],
  workgroupSize: [WG],
  body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  dx[i] = dy[i] * (1.0 - y[i] * y[i]);`,
};

/** y[n] = tanh(x[n]). */
export function tanhForward(enc: Encoder, y: Tensor, x: Tensor, n: number): void {
  enc.dispatch(FWD, { x, y }, { n }, groups1d(n, WG));
}

/** dx[n] = dy[n] * (1 - y[n]^2), with y the forward's output. */
export function tanhBackward(enc: Encoder, dx: Tensor, dy: Tensor, y: Tensor, n: number): void {
  enc.dispatch(BWD, { dy, y, dx }, { n }, groups1d(n, WG));
}

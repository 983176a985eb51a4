/**
 * Tempo LayerNorm backward: from the output y (kept anyway by the next layer) and rstd [R] only.
 * Each kernel rebuilds xhat = (y - beta) / gamma per element (no [R, C] temporary), then applies
 * the baseline formulas (`layernorm.ts`). R rows (N = B*T tokens) of C channels.
 *
 * |gamma| tiny makes xhat unrecoverable: the division uses sign(g) * max(|g|, 1e-12) (sign(0) =
 * +1), so no inf/NaN arises, but the gradients of such channels are wrong; the layer detects this
 * on the GPU with `minAbsGammaFlag` and keeps the input x instead (baseline backward).
 * The forward is the baseline `layernormForward` with mean = null. dy, y and dx are f32, f16 or
 * bf16 (a 16-bit y makes xhat carry y's rounding: issue 11's measurement); rstd, gamma, beta
 * and their gradients stay f32.
 * @module
 */
import type { Encoder } from "../encoder.ts";
import type { KernelSpec } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";
import {
  type DxSources,
  loadW,
  needParams,
  type ParamSources,
  runBackward,
  type XhatOf,
} from "./layernorm.ts";
import { needF32, needFloat } from "./checks.ts";
import type { ChunkOptions } from "./chunking.ts";

/** Smallest |gamma| the Tempo backward divides by. */
export const TEMPO_GAMMA_CLAMP = 1e-12;

const SAFE_GAMMA_WGSL = `
fn safe_gamma(g: f32) -> f32 { return select(-1.0, 1.0, g >= 0.0) * max(abs(g), ${TEMPO_GAMMA_CLAMP}); }
`;

/** The same clamp on vec4 (the vec4 kernels read gamma as vec4). */
const SAFE_GAMMA_WGSL4 = `
fn safe_gamma(g: vec4f) -> vec4f {
  return select(vec4f(-1.0), vec4f(1.0), g >= vec4f(0.0)) * max(abs(g), vec4f(${TEMPO_GAMMA_CLAMP}));
}
`;

/** The Tempo xhat = (y - beta) / gamma (beta, gamma: channel c). */
const TEMPO_XHAT: XhatOf = (w, at, c) =>
  `(${loadW(w, "y", at)} - ${loadW(w, "beta", c)}) / safe_gamma(${loadW(w, "gamma", c)})`;

/** The Tempo dx kernels' sources: y [R, C] and beta [C]. */
const TEMPO_DX: DxSources = {
  name: "layernorm_tempo_bwd_dx",
  sources: (w, d) => [
    { name: "y", dtype: d.y, width: w as 1 | 4 },
    { name: "beta", dtype: "f32", width: w as 1 | 4 },
  ],
  xhat: TEMPO_XHAT,
  prelude: (w) => (w === 4 ? SAFE_GAMMA_WGSL4 : SAFE_GAMMA_WGSL),
};

/**
 * The Tempo parameter-gradient kernels' sources: y, beta, gamma; the vec4 kernel loads the
 * channel's parameters once (`hoist`), not per row.
 */
const TEMPO_PARAMS: ParamSources = {
  name: "layernorm_tempo_bwd_params",
  sources: (w, d) => [
    { name: "y", dtype: d.y, width: w as 1 | 4 },
    { name: "beta", dtype: "f32", width: w as 1 | 4 },
    { name: "gamma", dtype: "f32", width: w as 1 | 4 },
  ],
  xhat: (w) =>
    w === 4 ? "(y_load4(off + c) - bc) / gc" : TEMPO_XHAT(1, "off + c", "c", { mean: "", rs: "" }),
  prelude: (w) => (w === 4 ? SAFE_GAMMA_WGSL4 : SAFE_GAMMA_WGSL),
  hoist: (w) => (w === 4 ? "let bc = beta_load4(c);\n  let gc = safe_gamma(gamma_load4(c));" : ""),
};

const FLAG_WG = 128;
/** The flag kernel; `or` ORs into flag[0] instead of overwriting it. */
function flagSpec(or: boolean): KernelSpec {
  return {
    name: `layernorm_min_abs_gamma_flag${or ? "_or" : ""}`,
    bindings: [{ name: "gamma", type: "f32" }, { name: "flag", type: "u32", write: true }],
    uniforms: [["C", "u32"], ["threshold", "f32"]],
    workgroupSize: [FLAG_WG],
    prelude: "var<workgroup> hit: array<u32, WG_X>;",
    body: `
  var h = 0u;
  for (var c = lidx; c < u.C; c += WG_X) {
    if (!(abs(gamma[c]) >= u.threshold)) { h = 1u; }
  }
  hit[lidx] = h;
  workgroupBarrier();
  for (var s = WG_X / 2u; s > 0u; s >>= 1u) {
    if (lidx < s) { hit[lidx] = max(hit[lidx], hit[lidx + s]); }
    workgroupBarrier();
  }
  if (lidx == 0u) { flag[0] = ${or ? "flag[0] | hit[0]" : "hit[0]"}; }`,
  };
}
const FLAG = [flagSpec(false), flagSpec(true)];

/** What `layernormTempoBackward` reads, writes and accumulates into. */
export interface LayernormTempoBackwardArgs extends ChunkOptions {
  /** [R, C] f32, f16 or bf16 output; may alias dy (in place). */
  dx: Tensor;
  /** [C] f32, accumulated. */
  dgamma: Tensor;
  /** [C] f32, accumulated. */
  dbeta: Tensor;
  /** [R, C] f32, f16 or bf16 upstream gradient. */
  dy: Tensor;
  /** [R, C] f32, f16 or bf16 forward output. */
  y: Tensor;
  /** [R] f32 forward rstd. */
  rstd: Tensor;
  /** [C] f32 scale. */
  gamma: Tensor;
  /** [C] f32 shift. */
  beta: Tensor;
  /** Rows. */
  R: number;
  /** Channels. */
  C: number;
}

/**
 * Tempo LayerNorm backward. dx is written; dgamma and dbeta are ACCUMULATED (+=) in a fixed row
 * order. `dx` may alias `dy` (the parameter gradients are taken first).
 */
export function layernormTempoBackward(enc: Encoder, a: LayernormTempoBackwardArgs): void {
  const { dx, dgamma, dbeta, dy, y, rstd, gamma, beta, R, C } = a;
  const op = "layernormTempoBackward";
  const dtypes = {
    dy: needFloat(op, "dy", dy, R * C, enc.gpu),
    y: needFloat(op, "y", y, R * C, enc.gpu),
    dx: needFloat(op, "dx", dx, R * C, enc.gpu),
  };
  needParams(
    op,
    [["rstd", rstd]],
    [["dgamma", dgamma], ["dbeta", dbeta], ["gamma", gamma], ["beta", beta]],
    R,
    C,
  );
  if (dx === y) throw new Error(`${op}: dx aliasing y is unsupported`);
  runBackward(enc, {
    op,
    dx: TEMPO_DX,
    params: TEMPO_PARAMS,
    dtypes,
    rows: { dy, y },
    stats: { rstd },
    channels: { gamma, beta },
  }, a);
}

/**
 * flag[0] (u32) = 1 if any |gamma_c| < threshold (or is NaN), else 0: lets the layer detect on the
 * GPU that Tempo's xhat = (y - beta) / gamma is unrecoverable and keep x instead. With `or`, the
 * result is ORed into flag[0] (one word for several layers).
 * @param flag [>= 1] u32 output
 * @param gamma [C] f32 scale
 */
export function minAbsGammaFlag(
  enc: Encoder,
  flag: Tensor,
  gamma: Tensor,
  C: number,
  threshold: number,
  options: { or?: boolean } = {},
): void {
  const op = "minAbsGammaFlag";
  needF32(op, "gamma", gamma, C);
  if (flag.dtype !== "u32" && flag.dtype !== "i32") throw new Error(`${op}: flag must be u32`);
  if (flag.size < 1) throw new Error(`${op}: flag ${flag} is empty`);
  enc.dispatch(FLAG[options.or ? 1 : 0], { gamma, flag }, { C, threshold }, [1, 1, 1]);
}

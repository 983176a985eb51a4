/**
 * Tempo LayerNorm backward: from the output y (kept anyway by the next layer) and rstd [R] only.
 * Each kernel rebuilds xhat = (y - beta) / gamma per element (no [R, C] temporary), then applies
 * the baseline formulas (`layernorm.ts`). R rows (N = B*T tokens) of C channels.
 *
 * |gamma| tiny makes xhat unrecoverable: the division uses sign(g) * max(|g|, 1e-12) (sign(0) =
 * +1), so no inf/NaN arises, but the gradients of such channels are wrong; the layer detects this
 * on the GPU with `minAbsGammaFlag` and keeps the input x instead (baseline backward).
 * The forward is the baseline `layernormForward` with mean = null.
 * @module
 */
import type { Bindable, Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";
import {
  backwardCol4Spec,
  backwardColSpec,
  backwardRowSpec,
  backwardRowsSpec,
  headRange,
  layernormCacheC,
  layernormWidth,
  LN_COL4_WG,
  LN_COL_WG,
  LN_ROWS_WG,
  rowRange,
  rowSpans,
} from "./layernorm.ts";
import { needF32 } from "./checks.ts";
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

const SOURCES: KernelSpec["bindings"] = [{ name: "y", type: "f32" }, { name: "beta", type: "f32" }];
const SOURCES4: KernelSpec["bindings"] = [
  { name: "y", type: "vec4<f32>" },
  { name: "beta", type: "vec4<f32>" },
];
const ROW_XHAT = "(y[off + c] - beta[c]) / safe_gamma(gamma[c])";
/** The column kernel's xhat with the channel's parameters loaded once (HOIST), not per row. */
const HOIST = "let bc = beta[c];\n  let gc = safe_gamma(gamma[c]);";
const COL_XHAT = "(y[off + c] - bc) / gc";

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
  /** [R, C] f32 output; may alias dy (in place). */
  dx: Tensor;
  /** [C] f32, accumulated. */
  dgamma: Tensor;
  /** [C] f32, accumulated. */
  dbeta: Tensor;
  /** [R, C] f32 upstream gradient. */
  dy: Tensor;
  /** [R, C] f32 forward output. */
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
  for (const [name, t] of [["dx", dx], ["dy", dy], ["y", y]] as const) needF32(op, name, t, R * C);
  needF32(op, "rstd", rstd, R);
  for (const [n, t] of [["dgamma", dgamma], ["dbeta", dbeta], ["gamma", gamma], ["beta", beta]]) {
    needF32(op, n as string, t as Tensor, C);
  }
  if (dx === y) throw new Error(`${op}: dx aliasing y is unsupported`);
  const gpu = enc.gpu;
  if (!gpu || R === 0) return;
  const inPlace = dx === dy;
  const w = layernormWidth(gpu, C), v4 = w === 4;
  const col = v4
    ? backwardCol4Spec(
      "layernorm_tempo_bwd_params",
      [...SOURCES4, { name: "gamma", type: "vec4<f32>" }],
      COL_XHAT,
      SAFE_GAMMA_WGSL4,
      HOIST,
    )
    : backwardColSpec(
      "layernorm_tempo_bwd_params",
      [...SOURCES, { name: "gamma", type: "f32" }],
      ROW_XHAT,
      SAFE_GAMMA_WGSL,
    );
  const row = w
    ? backwardRowsSpec(
      "layernorm_tempo_bwd_dx",
      v4 ? SOURCES4 : SOURCES,
      ROW_XHAT,
      v4 ? SAFE_GAMMA_WGSL4 : SAFE_GAMMA_WGSL,
      inPlace,
      w,
      layernormCacheC(C),
    )
    : backwardRowSpec("layernorm_tempo_bwd_dx", SOURCES, ROW_XHAT, SAFE_GAMMA_WGSL, inPlace);
  const params = { gamma: headRange(gamma, C, v4), beta: headRange(beta, C, v4) };
  const chunks = rowSpans(op, gpu, R, C, a.maxBindingBytes);
  for (const ch of chunks) {
    enc.dispatch(
      col,
      {
        dy: rowRange(dy, ch, C, v4),
        y: rowRange(y, ch, C, v4),
        ...params,
        dgamma: headRange(dgamma, C, v4),
        dbeta: headRange(dbeta, C, v4),
      },
      { R: ch.count, C },
      v4 ? groups1d(C / 4, LN_COL4_WG) : groups1d(C, LN_COL_WG),
    );
  }
  for (const ch of chunks) {
    const b: Record<string, Bindable> = {
      dy: rowRange(dy, ch, C, v4),
      y: rowRange(y, ch, C, v4),
      ...params,
      rstd: rowRange(rstd, ch, 1),
    };
    if (!inPlace) b.dx = rowRange(dx, ch, C, v4);
    enc.dispatch(row, b, { R: ch.count, C }, groups1d(ch.count, w ? LN_ROWS_WG : 1));
  }
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

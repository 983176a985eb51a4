/**
 * Attention softmax over rows: P = softmax(scale * S) per row of `cols` keys, with optional causal
 * and key-padding masks (masked entries get probability 0; a fully masked row gives zeros, not
 * NaN); backward dS = scale * P * (dP - rowsum(dP * P)), which needs only P (Tempo keeps P, not S).
 * Rows are laid out [B, NH, T] (rows = B*NH*T, query position t = row % T), cols = T keys.
 * One workgroup per row (reductions in workgroup memory, fixed order: deterministic); operands
 * larger than one binding are split into chunks of whole rows with aligned offsets.
 * @module
 */
import type { Bindable, Encoder } from "../encoder.ts";
import type { Gpu } from "../gpu.ts";
import { groups1d, type KernelSpec } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";

/** Options of `softmaxForward`. */
export interface SoftmaxOptions {
  /** Multiplies S before the softmax (1 / sqrt(HS) for attention). */
  scale: number;
  /** Mask key j > query position (row % T). */
  causal?: boolean;
  /** Query positions per (b, h) block (default cols); row r's query position is r % T. */
  T?: number;
  /**
   * i32 [B, cols]: 1 = real token, 0 = pad. Key j of row r is masked when
   * padMask[b * cols + j] == 0, b = floor(r / rowsPerBatch).
   */
  padMask?: Tensor | null;
  /** Rows per batch element (NH * T); required with padMask. */
  rowsPerBatch?: number;
  /** Largest binding (default gpu.maxBinding); tests lower it to force chunks. */
  maxBindingBytes?: number;
}

const WG = 128;
const NEG = "-3.40282347e38";

const PRELUDE = `
var<workgroup> red: array<f32, WG_X>;
fn wg_reduce(v: f32, lidx: u32, is_max: bool) -> f32 {
  red[lidx] = v;
  workgroupBarrier();
  for (var s = WG_X / 2u; s > 0u; s >>= 1u) {
    if (lidx < s) {
      let o = red[lidx + s];
      red[lidx] = select(red[lidx] + o, max(red[lidx], o), is_max);
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}
`;

const cache = new Map<string, KernelSpec>();

function forwardSpec(pad: boolean, inPlace: boolean): KernelSpec {
  const key = `fwd|${pad}|${inPlace}`;
  let s = cache.get(key);
  if (s) return s;
  const S = inPlace ? "P" : "S";
  s = {
    name: `softmax_fwd${pad ? "_pad" : ""}${inPlace ? "_inplace" : ""}`,
    bindings: [
      ...(inPlace ? [] : [{ name: "S", type: "f32" as const }]),
      ...(pad ? [{ name: "pad", type: "i32" as const }] : []),
      { name: "P", type: "f32", write: true },
    ],
    uniforms: [
      ["rows", "u32"],
      ["cols", "u32"],
      ["rowBase", "u32"],
      ["T", "u32"],
      [
        "rowsPerBatch",
        "u32",
      ],
      ["causal", "u32"],
      ["scale", "f32"],
    ],
    workgroupSize: [WG],
    prelude: `${PRELUDE}
fn masked(j: u32, q: u32, b: u32) -> bool {
  var m = u.causal != 0u && j > q;
  ${pad ? "m = m || pad[b * u.cols + j] == 0;" : "_ = b;"}
  return m;
}`,
    body: `
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) { return; }
  let grow = u.rowBase + row;
  let q = grow % u.T;
  let b = grow / u.rowsPerBatch;
  let off = row * u.cols;
  var mx = ${NEG};
  for (var j = lidx; j < u.cols; j += WG_X) {
    if (!masked(j, q, b)) { mx = max(mx, u.scale * ${S}[off + j]); }
  }
  mx = wg_reduce(mx, lidx, true);
  var sum = 0.0;
  for (var j = lidx; j < u.cols; j += WG_X) {
    if (!masked(j, q, b)) { sum += exp(u.scale * ${S}[off + j] - mx); }
  }
  sum = wg_reduce(sum, lidx, false);
  let empty = mx == ${NEG};
  let inv = select(1.0 / sum, 0.0, empty);
  for (var j = lidx; j < u.cols; j += WG_X) {
    let v = u.scale * ${S}[off + j];
    P[off + j] = select(exp(v - mx) * inv, 0.0, empty || masked(j, q, b));
  }`,
  };
  cache.set(key, s);
  return s;
}

function backwardSpec(inPlace: boolean): KernelSpec {
  const key = `bwd|${inPlace}`;
  let s = cache.get(key);
  if (s) return s;
  s = {
    name: `softmax_bwd${inPlace ? "_inplace" : ""}`,
    bindings: [
      { name: "P", type: "f32" },
      { name: "dP", type: "f32", write: inPlace },
      ...(inPlace ? [] : [{ name: "dS", type: "f32" as const, write: true }]),
    ],
    uniforms: [["rows", "u32"], ["cols", "u32"], ["scale", "f32"]],
    workgroupSize: [WG],
    prelude: PRELUDE,
    body: `
  let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) { return; }
  let off = row * u.cols;
  var acc = 0.0;
  for (var j = lidx; j < u.cols; j += WG_X) { acc += dP[off + j] * P[off + j]; }
  let dot = wg_reduce(acc, lidx, false);
  for (var j = lidx; j < u.cols; j += WG_X) {
    ${inPlace ? "dP" : "dS"}[off + j] = u.scale * P[off + j] * (dP[off + j] - dot);
  }`,
  };
  cache.set(key, s);
  return s;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Chunks [first, count) of whole rows whose [rows, cols] f32 ranges fit and start aligned. */
function rowChunks(op: string, gpu: Gpu, rows: number, cols: number, maxBindingBytes?: number) {
  const maxBytes = Math.min(maxBindingBytes ?? gpu.maxBinding, gpu.maxBinding);
  if (rows * cols * 4 <= maxBytes) return [{ first: 0, count: rows, whole: true }];
  const unit = gpu.storageAlign / gcd(4 * cols, gpu.storageAlign);
  const per = Math.floor(maxBytes / (4 * cols) / unit) * unit;
  if (per < 1) throw new Error(`${op}: ${unit} rows of ${cols} do not fit ${maxBytes} bytes`);
  const out = [];
  for (let first = 0; first < rows; first += per) {
    out.push({ first, count: Math.min(per, rows - first), whole: false });
  }
  return out;
}

function needF32(op: string, name: string, t: Tensor, n: number): void {
  if (t.dtype !== "f32") throw new Error(`${op}: ${name} must be f32, got ${t}`);
  if (t.size < n) throw new Error(`${op}: ${name} ${t} has fewer than ${n} elements`);
}

/**
 * P = softmax(scale * S) per row, masked entries excluded (probability 0); fully masked rows give
 * zeros. `P` may alias `S` (in place).
 * @param P [rows, cols] f32 output (rows = B*NH*T, cols = T)
 * @param S [rows, cols] f32 scores
 * @param opts scale, masks (see SoftmaxOptions); padMask is i32 [B, cols], bound whole
 */
export function softmaxForward(
  enc: Encoder,
  P: Tensor,
  S: Tensor,
  rows: number,
  cols: number,
  opts: SoftmaxOptions,
): void {
  const op = "softmaxForward";
  needF32(op, "P", P, rows * cols);
  needF32(op, "S", S, rows * cols);
  const T = opts.T ?? cols;
  const pad = opts.padMask ?? null;
  let rowsPerBatch = opts.rowsPerBatch ?? 0;
  if (pad) {
    if (pad.dtype !== "i32") throw new Error(`${op}: padMask must be i32, got ${pad}`);
    if (!(rowsPerBatch > 0)) throw new Error(`${op}: padMask needs rowsPerBatch (NH * T)`);
    const B = Math.ceil(rows / rowsPerBatch);
    if (pad.size < B * cols) throw new Error(`${op}: padMask ${pad} has fewer than ${B * cols}`);
  } else rowsPerBatch = Math.max(rows, 1);
  if (!(T > 0)) throw new Error(`${op}: T must be positive`);
  const gpu = enc.gpu;
  if (!gpu || rows === 0) return;
  const inPlace = P === S;
  const spec = forwardSpec(pad !== null, inPlace);
  for (const ch of rowChunks(op, gpu, rows, cols, opts.maxBindingBytes)) {
    const range = (t: Tensor): Bindable =>
      ch.whole ? t : { tensor: t, offset: 4 * ch.first * cols, size: 4 * ch.count * cols };
    const b: Record<string, Bindable> = { P: range(P) };
    if (!inPlace) b.S = range(S);
    if (pad) b.pad = pad;
    enc.dispatch(spec, b, {
      rows: ch.count,
      cols,
      rowBase: ch.first,
      T,
      rowsPerBatch,
      causal: opts.causal ? 1 : 0,
      scale: opts.scale,
    }, groups1d(ch.count, 1));
  }
}

/**
 * dS = scale * P * (dP - rowsum(dP * P)) per row (the softmax backward from its output alone).
 * `dS` may alias `dP` (in place).
 * @param dS [rows, cols] f32 output
 * @param dP [rows, cols] f32 upstream gradient
 * @param P [rows, cols] f32 forward output
 * @param maxBindingBytes largest binding (default gpu.maxBinding); tests lower it to force chunks
 */
export function softmaxBackward(
  enc: Encoder,
  dS: Tensor,
  dP: Tensor,
  P: Tensor,
  rows: number,
  cols: number,
  scale: number,
  maxBindingBytes?: number,
): void {
  const op = "softmaxBackward";
  for (const [name, t] of [["dS", dS], ["dP", dP], ["P", P]] as const) {
    needF32(op, name, t, rows * cols);
  }
  if (dS === P) throw new Error(`${op}: dS aliasing P is unsupported`);
  const gpu = enc.gpu;
  if (!gpu || rows === 0) return;
  const inPlace = dS === dP;
  const spec = backwardSpec(inPlace);
  for (const ch of rowChunks(op, gpu, rows, cols, maxBindingBytes)) {
    const range = (t: Tensor): Bindable =>
      ch.whole ? t : { tensor: t, offset: 4 * ch.first * cols, size: 4 * ch.count * cols };
    const b: Record<string, Bindable> = { P: range(P), dP: range(dP) };
    if (!inPlace) b.dS = range(dS);
    enc.dispatch(spec, b, { rows: ch.count, cols, scale }, groups1d(ch.count, 1));
  }
}

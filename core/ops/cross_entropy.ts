/**
 * Fused softmax cross-entropy over rows of logits [N, V]: per-row losses, and the gradient written
 * over the logits in place (no second [N, V] buffer). Three kernels, picked by the kernel policy
 * (`crossEntropy`): `workgroup`, one workgroup per row looping over V (odd V such as 50257 is
 * fine; real GPUs, and long rows on the software adapter); `subgroup`, the same kernel combining
 * the row's max and sum with subgroup operations (GPUs with `subgroups`,
 * `row_reduce_subgroup.ts`); `row`, one invocation per row (no
 * barriers; vec4 when V % 4 == 0) with an online max/sum, so each logit is read twice and written
 * once. Logits larger than one binding are chunked over rows inside the op.
 * `meanLoss` averages the losses over the counted targets deterministically in one workgroup.
 *
 * The logits (and so their gradient) are f32, f16 or bf16; the max, the sum of exp and the loss
 * are f32 arithmetic and the losses f32 storage (as in Megatron's and llm.c's fused
 * cross-entropy), each gradient element rounded once to the logits' dtype. 16-bit logits are
 * written in whole words: the vec4 row kernel as in f32, the others by blocks of one row, two
 * when V is odd (GPT-2's 50257), so every V works.
 * @module
 */
import type { FloatDType } from "../dtype.ts";
import type { Encoder } from "../encoder.ts";
import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { rowKernelFor } from "../kernel_policy.ts";
import { cachedSpec } from "../spec_cache.ts";
import type { Tensor } from "../tensor.ts";
import { needF32, needFloat, needI32 } from "./checks.ts";
import { type ChunkOptions, chunksOf } from "./chunking.ts";
import {
  blockHeadWgsl,
  dtypeSuffix,
  rowsPerBlock,
  rowWordsWgsl,
  store2nWgsl,
} from "./half_kernels.ts";
import { subgroupOnlineMaxSumWgsl } from "./row_reduce_subgroup.ts";

const WG = 256;
/** Invocations per workgroup of the row-per-invocation kernel (small: few rows still spread). */
const ROW_WG = 16;

/**
 * One invocation per row, width w (4: logits read as vec4; needs V % 4 == 0 and base % 4 == 0).
 * Pass 1: per-component online max and sum of exp (fixed order), combined across components;
 * pass 2: the gradient scale * (exp(x - max) / sum - onehot). 16-bit logits with w = 1 take one
 * invocation per block of `u.rpi` rows (two when V is odd) and store the gradient by words.
 */
function rowSpec(w: number, d: FloatDType): KernelSpec {
  const name = `cross_entropy_rows${w === 4 ? "_v4" : ""}${dtypeSuffix({ logits: d })}`;
  return cachedSpec(
    name,
    () => (w === 1 && d !== "f32" ? wordsSpecOf(name, d, false) : rowSpecOf(name, w, d)),
  );
}

/** The bindings of the cross-entropy kernels (logits of width w, written in place). */
function bindingsOf(w: number, d: FloatDType): KernelSpec["bindings"] {
  return [
    { name: "logits", dtype: d, width: w as 1 | 4, write: true },
    { name: "targets", type: "i32" },
    { name: "losses", dtype: "f32", write: true },
  ];
}

/** Uniforms of the cross-entropy kernels (`rpi`: rows per block, the 16-bit word kernels). */
function uniformsOf(words: boolean): KernelSpec["uniforms"] {
  return [
    ["rows", "u32"], // rows in this chunk
    ["V", "u32"],
    ["base", "u32"], // element index of the chunk's first row in the logits binding
    ["row0", "u32"], // global index of the chunk's first row
    ["scale", "f32"],
    ...(words ? [["rpi", "u32"] as const] : []),
  ];
}

function rowSpecOf(name: string, w: number, d: FloatDType): KernelSpec {
  const T = w === 4 ? "vec4f" : "f32";
  const at = (k: string) => (w === 4 ? `logits_load4(${k})` : `logits_load(${k})`);
  const store = (k: string, v: string) =>
    w === 4 ? `logits_store4(${k}, ${v})` : `logits_store(${k}, ${v})`;
  const combine = w === 4
    ? `let mx = max(max(m.x, m.y), max(m.z, m.w));
  let ss = s * exp(m - mx);
  let sum = (ss.x + ss.y) + (ss.z + ss.w);`
    : `let mx = m;
  let sum = s;`;
  const onehot = w === 4
    ? "select(vec4f(0.0), vec4f(u.scale), vec4u(4u * k) + vec4u(0u, 1u, 2u, 3u) == vec4u(tu))"
    : "select(0.0, u.scale, k == tu)";
  return {
    name,
    bindings: bindingsOf(w, d),
    uniforms: uniformsOf(false),
    workgroupSize: [ROW_WG],
    prelude: "const LOWEST: f32 = -3.4028234e38;",
    body: `${LINEAR_INDEX}
  if (i >= u.rows) { return; }
  let n = u.row0 + i;
  let nv = u.V / ${w}u;
  let base = u.base / ${w}u + i * nv;
  let t = targets[n];
  let valid = t >= 0 && u32(t) < u.V;
  let tu = select(0xffffffffu, u32(t), valid);
  var xt = 0.0;
  if (valid) {
    let e = u.base + i * u.V + tu;
    xt = logits_load(e);
  }
  let len = select(0u, nv, valid);
  var m = ${T}(LOWEST);
  var s = ${T}(0.0);
  for (var k = 0u; k < len; k++) {
    let x = ${at("base + k")};
    let mn = max(m, x);
    s = s * exp(m - mn) + exp(x - mn);
    m = mn;
  }
  ${combine}
  var loss = 0.0;
  if (valid) { loss = mx + log(sum) - xt; }
  if (t >= 0 && !valid) { loss = bitcast<f32>(0x7fc00000u); } // target >= V: NaN, loudly
  losses_store(n, loss);
  let kk = select(0.0, u.scale / sum, valid);
  for (var k = 0u; k < nv; k++) {
    ${store("base + k", `select(${T}(0.0), exp(${at("base + k")} - mx) * kk - ${onehot}, valid)`)};
  }`,
  };
}

/**
 * The reduction of the workgroup kernels: online max and sum of exp, in a fixed tree order, or
 * (`sg`: the `subgroup` variant) with subgroup operations (`online_max_sum` of SUBGROUP_PRELUDE).
 */
function wgStats(sg: boolean): string {
  return `// Online max and sum of exp over this thread's strided columns (ignored rows skip the loop).
  let len = select(0u, u.V, valid);
  var m = LOWEST;
  var s = 0.0;
  for (var j = lidx; j < len; j += WG_X) {
    let x = logits_load(base + j);
    if (x > m) { s = s * exp(m - x) + 1.0; m = x; } else { s += exp(x - m); }
  }
  ${sg ? SUBGROUP_STATS : TREE_STATS}
  if (lidx == 0u) {
    var loss = 0.0;
    if (valid) { loss = mx + log(sum) - xt; }
    if (t >= 0 && !valid) { loss = bitcast<f32>(0x7fc00000u); } // target >= V: NaN, loudly
    losses_store(n, loss);
  }`;
}

/** The subgroup variant's combine of (m, s) over the workgroup. */
const SUBGROUP_STATS = `let ms = online_max_sum(m, s, lidx);
  let mx = ms.x;
  let sum = ms.y;`;

/** The workgroup variant's combine of (m, s): a tree in workgroup memory. */
const TREE_STATS = `red_m[lidx] = m;
  red_s[lidx] = s;
  workgroupBarrier();
  for (var h = WG_X / 2u; h > 0u; h >>= 1u) {
    if (lidx < h) {
      let m1 = red_m[lidx];
      let m2 = red_m[lidx + h];
      let mm = max(m1, m2);
      red_s[lidx] = red_s[lidx] * exp(m1 - mm) + red_s[lidx + h] * exp(m2 - mm);
      red_m[lidx] = mm;
    }
    workgroupBarrier();
  }
  let mx = red_m[0];
  let sum = red_s[0];`;

/** Workgroup memory and functions of the workgroup (`sg` false) or subgroup kernels. */
function wgPrelude(sg: boolean): string {
  return sg
    ? `const LOWEST: f32 = -3.4028234e38;${subgroupOnlineMaxSumWgsl("online_max_sum", "LOWEST")}`
    : `var<workgroup> red_m: array<f32, ${WG}>;
var<workgroup> red_s: array<f32, ${WG}>;
const LOWEST: f32 = -3.4028234e38;`;
}

/** Per row of a block: its target, whether it counts, and the row's first element. */
function rowHead(row: string): string {
  return `let n = u.row0 + ${row};
  let base = u.base + ${row} * u.V;
  let t = targets[n];
  let valid = t >= 0 && u32(t) < u.V;`;
}

/**
 * The 16-bit word kernels of both variants: the rows' statistics of a block (one or two rows),
 * then the gradient of the block's words (`workgroup`: one workgroup per block, threads striding
 * over the words).
 */
function wordsSpecOf(
  name: string,
  d: FloatDType,
  workgroup: boolean,
  sg = false,
): KernelSpec {
  const stats = workgroup
    ? `${rowHead("row")}
    var xt = 0.0;
    if (lidx == 0u && valid) { xt = logits_load(base + u32(t)); } // read before anyone overwrites it
    ${wgStats(sg)}
    workgroupBarrier(); // red_m, red_s are read above before the next row writes them
    let tu = select(0xffffffffu, u32(t), valid);`
    : `${rowHead("row")}
    let tu = select(0xffffffffu, u32(t), valid);
    var xt = 0.0;
    if (valid) { xt = logits_load(base + tu); }
    let len = select(0u, u.V, valid);
    var m = LOWEST;
    var s = 0.0;
    for (var k = 0u; k < len; k++) {
      let x = logits_load(base + k);
      let mn = max(m, x);
      s = s * exp(m - mn) + exp(x - mn);
      m = mn;
    }
    let mx = m;
    let sum = s;
    var loss = 0.0;
    if (valid) { loss = mx + log(sum) - xt; }
    if (t >= 0 && !valid) { loss = bitcast<f32>(0x7fc00000u); } // target >= V: NaN, loudly
    losses_store(n, loss);`;
  return {
    name,
    bindings: bindingsOf(1, d),
    uniforms: uniformsOf(true),
    workgroupSize: [workgroup ? WG : ROW_WG],
    prelude: `${workgroup ? wgPrelude(sg) : "const LOWEST: f32 = -3.4028234e38;"}\n${
      store2nWgsl("logits", d)
    }`,
    subgroups: sg,
    body: `${workgroup ? "" : LINEAR_INDEX}
  ${blockHeadWgsl(workgroup ? "wid.x + wid.y * nwg.x" : "i", "u.rows")}
  var mxs: array<f32, 2>;
  var kks: array<f32, 2>;
  var tus: array<u32, 2>;
  var valids: array<bool, 2>;
  for (var rr = 0u; rr < nr; rr++) {
    let row = r0 + rr;
    ${stats}
    mxs[rr] = mx;
    kks[rr] = select(0.0, u.scale / sum, valid);
    tus[rr] = tu;
    valids[rr] = valid;
  }
  let e0 = u.base + r0 * u.V;
  let e1 = e0 + nr * u.V;
  ${
      rowWordsWgsl({
        out: "logits",
        cols: "u.V",
        start: workgroup ? "lidx" : "0u",
        stride: workgroup ? "WG_X" : "1u",
        value: "select(0.0, exp(logits_load(e) - mxs[rr]) * kks[rr] - " +
          "select(0.0, u.scale, k == tus[rr]), valids[rr])",
      })
    }`,
  };
}

/**
 * The workgroup kernel: one workgroup per row looping over V (16-bit logits: per block); `sg`:
 * the `subgroup` variant.
 */
function workgroupSpec(d: FloatDType, sg: boolean): KernelSpec {
  const name = `cross_entropy${sg ? "_sg" : ""}${dtypeSuffix({ logits: d })}`;
  return cachedSpec(name, () =>
    d !== "f32" ? wordsSpecOf(name, d, true, sg) : {
      name,
      bindings: bindingsOf(1, d),
      uniforms: uniformsOf(false),
      workgroupSize: [WG],
      prelude: wgPrelude(sg),
      subgroups: sg,
      body: `let row = wid.x + wid.y * nwg.x;
  if (row >= u.rows) { return; }
  ${rowHead("row")}
  var xt = 0.0;
  if (lidx == 0u && valid) { xt = logits_load(base + u32(t)); } // read before anyone overwrites it
  ${wgStats(sg)}
  // Gradient over the logits: scale * (softmax - onehot); zero for ignored rows.
  let k = u.scale / sum;
  for (var j = lidx; j < u.V; j += WG_X) {
    var g = 0.0;
    if (valid) {
      g = exp(logits_load(base + j) - mx) * k;
      if (j == u32(t)) { g -= u.scale; }
    }
    logits_store(base + j, g);
  }`,
    });
}

/** What `crossEntropy` reads and writes. */
export interface CrossEntropyArgs extends ChunkOptions {
  /** [N] f32 per-row losses. */
  losses: Tensor;
  /** [N, V] f32, f16 or bf16 logits, OVERWRITTEN with their gradient. */
  logits: Tensor;
  /** [N] i32 class of each row; negative: ignored. */
  targets: Tensor;
  /** Rows. */
  N: number;
  /** Classes (vocabulary). */
  V: number;
  /** Multiplier of the gradient, normally 1 / count of targets >= 0 (`lossScale`). */
  gradScale: number;
}

/**
 * For each row n < N with 0 <= targets[n] < V: losses[n] = logsumexp(logits[n, :]) -
 * logits[n, targets[n]], and logits[n, :] is OVERWRITTEN with the gradient
 * gradScale * (softmax(logits[n, :]) - onehot(targets[n])). Rows with a negative target (-1 =
 * ignore): loss 0 and a zero gradient row. A target >= V is a caller bug: its loss is NaN.
 * Per row: a fixed-order reduction (strided, then a tree or the device's subgroup operations), so
 * results are deterministic.
 */
export function crossEntropy(enc: Encoder, a: CrossEntropyArgs): void {
  const { losses, logits, targets, N, V, gradScale } = a;
  const op = "crossEntropy";
  if (!Number.isInteger(V) || V < 1) throw new Error(`${op}: bad V=${V}`);
  needF32(op, "losses", losses, N);
  const d = needFloat(op, "logits", logits, N * V, enc.gpu);
  needI32(op, "targets", targets, N, enc.gpu);
  if (enc.gpu && 4 * N > enc.gpu.maxBinding) throw new Error(`${op}: N=${N} rows unsupported`);
  const gpu = enc.gpu;
  if (!gpu || N === 0) return;
  const kernel = rowKernelFor(gpu.kernels, "crossEntropy", V), rowWise = kernel === "row";
  const rpi = rowsPerBlock(V);
  for (const ch of chunksOf(gpu, logits, N * V, V, a.maxBindingBytes)) {
    // vec4 needs whole vec4s: V % 4 == 0 makes base and the range size multiples of 4 elements.
    const w = rowWise && V % 4 === 0 && ch.base % 4 === 0 ? 4 : 1;
    const spec = rowWise ? rowSpec(w, d) : workgroupSpec(d, kernel === "subgroup");
    // 16-bit logits outside the vec4 kernel: blocks of rpi rows, stored by words.
    const words = w === 1 && d !== "f32";
    const u: Record<string, number> = {
      rows: ch.count,
      V,
      base: ch.base,
      row0: ch.first,
      scale: gradScale,
    };
    if (words) u.rpi = rpi;
    const items = words ? Math.ceil(ch.count / rpi) : ch.count;
    enc.dispatch(
      spec,
      { logits: ch.range, targets, losses },
      u,
      groups1d(items, rowWise ? ROW_WG : 1),
    );
  }
}

/** The usual gradScale: 1 / (number of targets >= 0), or 0 when there are none. */
export function lossScale(targets: Int32Array): number {
  let count = 0;
  for (const t of targets) if (t >= 0) count++;
  return count > 0 ? 1 / count : 0;
}

const MEAN_LOSS: KernelSpec = {
  name: "mean_loss",
  bindings: [
    { name: "out", type: "f32", write: true },
    { name: "losses", type: "f32" },
    { name: "targets", type: "i32" },
  ],
  uniforms: [["n", "u32"]],
  workgroupSize: [WG],
  prelude: `var<workgroup> red_s: array<f32, ${WG}>;
var<workgroup> red_c: array<u32, ${WG}>;`,
  body: `var s = 0.0;
  var c = 0u;
  for (var i = lidx; i < u.n; i += WG_X) {
    if (targets[i] >= 0) { s += losses[i]; c += 1u; }
  }
  red_s[lidx] = s;
  red_c[lidx] = c;
  workgroupBarrier();
  for (var h = WG_X / 2u; h > 0u; h >>= 1u) {
    if (lidx < h) {
      red_s[lidx] += red_s[lidx + h];
      red_c[lidx] += red_c[lidx + h];
    }
    workgroupBarrier();
  }
  if (lidx == 0u) {
    let count = red_c[0];
    out[0] = select(0.0, red_s[0] / f32(count), count > 0u);
    out[1] = f32(count);
  }`,
};

/**
 * out[0] = sum of losses[n] over n < N with targets[n] >= 0, divided by their count (0 when there
 * are none); out[1] = that count as f32. One workgroup, fixed-order tree: deterministic.
 * @param out [2] f32
 * @param losses [N] f32
 * @param targets [N] i32
 */
export function meanLoss(
  enc: Encoder,
  out: Tensor,
  losses: Tensor,
  targets: Tensor,
  N: number,
): void {
  const op = "meanLoss";
  needF32(op, "out", out, 2);
  needF32(op, "losses", losses, N);
  needI32(op, "targets", targets, N, enc.gpu);
  enc.dispatch(MEAN_LOSS, { out, losses, targets }, { n: N }, [1, 1, 1]);
}

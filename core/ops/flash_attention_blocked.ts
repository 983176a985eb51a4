/**
 * The `blocked` fused attention kernels (the software adapter). One invocation owns R rows of one
 * head (query rows in the forward and dQ passes, key rows in the dK/dV pass) and walks the other
 * side in blocks of K rows, like a register-blocked matmul: the R x K scores of a block are named
 * scalars accumulated over the head dimension (a runtime loop over HS/4, reading the block's K
 * rows as vec4 loads and the invocation's own rows from private arrays), then the block's online
 * softmax (or recomputed P and dS) is done on those scalars, and a second loop over HS/4
 * accumulates the R output rows in private arrays from the block's K rows. Every loaded vec4 then
 * serves R (or K) rows: llvmpipe runs a workgroup as one thread of 8 SIMD lanes, where barriers and
 * workgroup memory cost more than they save, and a storage-buffer load costs more than the
 * arithmetic it feeds unless it is reused. Layouts: flash_attention_kernel.ts.
 *
 * - fwd: per query row, an online softmax over key blocks (running max m and sum l, the output
 *   accumulator rescaled once per block); writes out = acc / l and lse = m + log l.
 * - dq: per query row, D = dO . O (written for the dkv pass); per key P = exp(S - lse),
 *   dS = P (keep * dO . V - D); dQ += dS K.
 * - dkv: per key row, over the query rows that see it: dV += keep * P dO, dK += dS Q.
 * @module
 */
import { type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import {
  FLASH_UNIFORMS,
  flashBindings,
  flashPrelude,
  type FlashSpecKey,
  flashSpecName,
  NEG,
  unroll,
} from "./flash_attention_kernel.ts";

/** Invocations per workgroup (a multiple of llvmpipe's 8 lanes). */
export const BLOCKED_WG = 64;

/** Rows per invocation (R) and rows of the other side per block (K, a multiple of 4). */
export interface BlockedShape {
  /** Own rows per invocation. */
  R: number;
  /** Other-side rows per block. */
  K: number;
}

/** The block of each pass. */
export const BLOCKED: Record<FlashSpecKey["pass"], BlockedShape> = {
  fwd: { R: 8, K: 8 },
  dq: { R: 8, K: 8 },
  dkv: { R: 8, K: 8 },
};

/** The kernel of a pass with its block. */
export function blockedSpec(k: FlashSpecKey, shape = BLOCKED[k.pass]): KernelSpec {
  const { R, K } = shape;
  if (K % 4 !== 0 || (k.pass === "dkv" && R % 4 !== 0)) {
    throw new Error(`flash blocked ${k.pass}: block ${R}x${K} must be multiples of 4`);
  }
  const name = flashSpecName("blocked", k, `_${R}x${K}`);
  const H = k.HS / 4;
  return cachedSpec(name, () => ({
    name,
    bindings: flashBindings(k),
    uniforms: FLASH_UNIFORMS,
    workgroupSize: [BLOCKED_WG],
    prelude: `${flashPrelude()}
const HS4 = ${H}u;`,
    body: k.pass === "fwd"
      ? forwardBody(R, K, H)
      : k.pass === "dq"
      ? dqBody(R, K, H)
      : dkvBody(R, K, H),
  }));
}

/** Invocation -> (b, h, first own row r0); `R` rows per invocation. */
function header(R: number): string {
  return `${LINEAR_INDEX}
  let nrb = (u.T + ${R - 1}u) / ${R}u;
  if (i >= u.B * u.NH * nrb) { return; }
  let bh = i / nrb;
  let r0 = (i % nrb) * ${R}u;
  let h = bh % u.NH;
  let b = bh / u.NH;
  let tok0 = b * u.T;
  let row3 = 3u * u.C4;
  let hq = h * HS4;
  let lrow0 = bh * u.T;
  let grow0 = ((u.b0 + b) * u.NH + h) * u.T;`;
}

/** Unrolled over r < R and k < K. */
function rk(R: number, K: number, f: (r: number, k: number) => string): string {
  return unroll(R, (r) => unroll(K, (k) => f(r, k)));
}

/** `max` of the list, as a balanced tree. */
function maxOf(xs: string[]): string {
  return xs.length === 1
    ? xs[0]
    : `max(${maxOf(xs.slice(0, xs.length >> 1))}, ${maxOf(xs.slice(xs.length >> 1))})`;
}

/** Sum of the list, as a balanced tree (fixed order). */
function sumOf(xs: string[]): string {
  return xs.length === 1
    ? xs[0]
    : `(${sumOf(xs.slice(0, xs.length >> 1))} + ${sumOf(xs.slice(xs.length >> 1))})`;
}

/**
 * Keep words of a block: `kp[x * W + w]` holds the keep bits of keys j0 + 4w .. +3 (W = K/4 per
 * own row; for dkv, W = R/4 per query row x). One runtime loop, so that the Philox code is
 * compiled once, not once per word.
 */
function keepWords(n: number, base: string, j: string): string {
  return `var kp: array<u32, ${n}>;
    for (var x = 0u; x < ${n}u; x++) { kp[x] = fa_keep4(${base}, ${j}); }
`;
}

/** Keep factor (keepScale or 0) of key bit k of row x's words (W words per row). */
function keepFactor(x: number, W: number, k: number): string {
  return `select(0.0, u.keepScale, ((kp[${x * W + (k >> 2)}] >> ${k & 3}u) & 1u) != 0u)`;
}

/** Row indices of the K other-side rows of a block at j0 (clamped into [0, T)). */
function otherRows(K: number, j0: string): string {
  return unroll(K, (k) => `let j${k} = ${j0} + ${k}u;\n    let tj${k} = min(j${k}, u.T - 1u);`);
}

function forwardBody(R: number, K: number, H: number): string {
  const rows = (f: (r: number) => string) => unroll(R, f);
  const keys = (f: (k: number) => string) => unroll(K, f);
  return `${header(R)}
  var qs: array<vec4f, ${R * H}>;
  var acc: array<vec4f, ${R * H}>;
  ${rows((r) => `let qb${r} = (tok0 + min(r0 + ${r}u, u.T - 1u)) * row3 + hq;`)}
  for (var c = 0u; c < HS4; c++) {
    ${rows((r) => `qs[${r}u * HS4 + c] = qkv_load4(qb${r} + c) * u.scale;`)}
    ${rows((r) => `acc[${r}u * HS4 + c] = vec4f(0.0);`)}
  }
  ${rows((r) => `var m${r} = ${NEG};\n  var l${r} = 0.0;`)}
  var bases: array<vec2u, ${R}>;
  ${rows((r) => `bases[${r}] = fa_row_base(grow0 + min(r0 + ${r}u, u.T - 1u));`)}
  let jend = select(u.T, min(u.T, r0 + ${R}u), u.causal != 0u);
  for (var j0 = 0u; j0 < jend; j0 += ${K}u) {
    ${otherRows(K, "j0")}
    ${keys((k) => `let kb${k} = (tok0 + tj${k}) * row3 + u.C4 + hq;`)}
    ${rk(R, K, (r, k) => `var s${r}_${k} = 0.0;`)}
    for (var c = 0u; c < HS4; c++) {
      ${keys((k) => `let kv${k} = qkv_load4(kb${k} + c);`)}
      ${rows((r) => `let q${r} = qs[${r}u * HS4 + c];`)}
      ${rk(R, K, (r, k) => `s${r}_${k} += dot(q${r}, kv${k});`)}
    }
    ${keys((k) => `let ok${k} = j${k} < jend && fa_key_ok(b, tj${k});`)}
    ${keepWords(R * K / 4, `bases[x / ${K / 4}u]`, `j0 + 4u * (x % ${K / 4}u)`)}
    ${
    rows((r) => {
      const v = (k: number) => `(ok${k} && (u.causal == 0u || j${k} <= r0 + ${r}u))`;
      return `${keys((k) => `let v${r}_${k} = ${v(k)};`)}
    let mx${r} = max(m${r}, ${
        maxOf(Array.from({ length: K }, (_, k) => `select(${NEG}, s${r}_${k}, v${r}_${k})`))
      });
    let al${r} = exp(m${r} - mx${r});
    ${keys((k) => `let p${r}_${k} = select(0.0, exp(s${r}_${k} - mx${r}), v${r}_${k});`)}
    l${r} = l${r} * al${r} + ${sumOf(Array.from({ length: K }, (_, k) => `p${r}_${k}`))};
    m${r} = mx${r};
    ${keys((k) => `let d${r}_${k} = p${r}_${k} * ${keepFactor(r, K / 4, k)};`)}`;
    })
  }
    for (var c = 0u; c < HS4; c++) {
      ${keys((k) => `let vv${k} = qkv_load4(kb${k} + u.C4 + c);`)}
      ${
    rows((r) =>
      `acc[${r}u * HS4 + c] = acc[${r}u * HS4 + c] * al${r} + ${
        sumOf(Array.from({ length: K }, (_, k) => `d${r}_${k} * vv${k}`))
      };`
    )
  }
    }
  }
  ${
    rows((r) =>
      `if (r0 + ${r}u < u.T) {
    let inv = select(1.0 / l${r}, 0.0, l${r} == 0.0);
    let ob = (tok0 + r0 + ${r}u) * u.C4 + hq;
    for (var c = 0u; c < HS4; c++) { out_store4(ob + c, acc[${r}u * HS4 + c] * inv); }
    lse[lrow0 + r0 + ${r}u] = select(m${r} + log(l${r}), bitcast<f32>(0xff800000u), l${r} == 0.0);
  }`
    )
  }`;
}

function dqBody(R: number, K: number, H: number): string {
  const rows = (f: (r: number) => string) => unroll(R, f);
  const keys = (f: (k: number) => string) => unroll(K, f);
  return `${header(R)}
  var qs: array<vec4f, ${R * H}>;
  var gs: array<vec4f, ${R * H}>;
  var dq: array<vec4f, ${R * H}>;
  ${rows((r) => `let t${r} = min(r0 + ${r}u, u.T - 1u);`)}
  ${rows((r) => `let qb${r} = (tok0 + t${r}) * row3 + hq;`)}
  ${rows((r) => `let ob${r} = (tok0 + t${r}) * u.C4 + hq;`)}
  ${rows((r) => `var D${r} = 0.0;`)}
  for (var c = 0u; c < HS4; c++) {
    ${
    rows((r) =>
      `qs[${r}u * HS4 + c] = qkv_load4(qb${r} + c) * u.scale;
    let g${r} = dout_load4(ob${r} + c);
    gs[${r}u * HS4 + c] = g${r};
    D${r} += dot(g${r}, out_load4(ob${r} + c));
    dq[${r}u * HS4 + c] = vec4f(0.0);`
    )
  }
  }
  ${rows((r) => `let lse${r} = lse[lrow0 + t${r}];`)}
  ${rows((r) => `if (r0 + ${r}u < u.T) { D[lrow0 + r0 + ${r}u] = D${r}; }`)}
  var bases: array<vec2u, ${R}>;
  ${rows((r) => `bases[${r}] = fa_row_base(grow0 + t${r});`)}
  let jend = select(u.T, min(u.T, r0 + ${R}u), u.causal != 0u);
  for (var j0 = 0u; j0 < jend; j0 += ${K}u) {
    ${otherRows(K, "j0")}
    ${keys((k) => `let kb${k} = (tok0 + tj${k}) * row3 + u.C4 + hq;`)}
    ${rk(R, K, (r, k) => `var s${r}_${k} = 0.0;\n    var e${r}_${k} = 0.0;`)}
    for (var c = 0u; c < HS4; c++) {
      ${
    keys((k) =>
      `let kv${k} = qkv_load4(kb${k} + c);\n      let vv${k} = qkv_load4(kb${k} + u.C4 + c);`
    )
  }
      ${rows((r) => `let q${r} = qs[${r}u * HS4 + c];\n      let g${r} = gs[${r}u * HS4 + c];`)}
      ${
    rk(R, K, (r, k) => `s${r}_${k} += dot(q${r}, kv${k});\n      e${r}_${k} += dot(g${r}, vv${k});`)
  }
    }
    ${keys((k) => `let ok${k} = j${k} < jend && fa_key_ok(b, tj${k});`)}
    ${keepWords(R * K / 4, `bases[x / ${K / 4}u]`, `j0 + 4u * (x % ${K / 4}u)`)}
    ${
    rk(R, K, (r, k) =>
      `let ds${r}_${k} = select(0.0, exp(s${r}_${k} - lse${r}), ok${k} && (u.causal == 0u || j${k} <= r0 + ${r}u)) * (${
        keepFactor(r, K / 4, k)
      } * e${r}_${k} - D${r});`)
  }
    for (var c = 0u; c < HS4; c++) {
      ${keys((k) => `let kv${k} = qkv_load4(kb${k} + c);`)}
      ${
    rows((r) =>
      `dq[${r}u * HS4 + c] = dq[${r}u * HS4 + c] + ${
        sumOf(Array.from({ length: K }, (_, k) => `ds${r}_${k} * kv${k}`))
      };`
    )
  }
    }
  }
  ${
    rows((r) =>
      `if (r0 + ${r}u < u.T) {
    for (var c = 0u; c < HS4; c++) { dqkv_store4(qb${r} + c, dq[${r}u * HS4 + c] * u.scale); }
  }`
    )
  }`;
}

function dkvBody(R: number, K: number, H: number): string {
  const rows = (f: (r: number) => string) => unroll(R, f);
  const qs = (f: (k: number) => string) => unroll(K, f);
  return `${header(R)}
  var ks: array<vec4f, ${R * H}>;
  var ws: array<vec4f, ${R * H}>;
  var dk: array<vec4f, ${R * H}>;
  var dv: array<vec4f, ${R * H}>;
  ${rows((r) => `let t${r} = min(r0 + ${r}u, u.T - 1u);`)}
  ${rows((r) => `let kb${r} = (tok0 + t${r}) * row3 + u.C4 + hq;`)}
  for (var c = 0u; c < HS4; c++) {
    ${
    rows((r) =>
      `ks[${r}u * HS4 + c] = qkv_load4(kb${r} + c) * u.scale;
    ws[${r}u * HS4 + c] = qkv_load4(kb${r} + u.C4 + c);
    dk[${r}u * HS4 + c] = vec4f(0.0);
    dv[${r}u * HS4 + c] = vec4f(0.0);`
    )
  }
  }
  ${rows((r) => `let okk${r} = r0 + ${r}u < u.T && fa_key_ok(b, t${r});`)}
  // Causal: the first query block holds query r0 (the block's own first key).
  let istart = select(0u, r0, u.causal != 0u);
  for (var i0 = istart; i0 < u.T; i0 += ${K}u) {
    ${otherRows(K, "i0")}
    ${
    qs((k) =>
      `let qb${k} = (tok0 + tj${k}) * row3 + hq;\n    let ob${k} = (tok0 + tj${k}) * u.C4 + hq;`
    )
  }
    ${rk(R, K, (r, k) => `var s${r}_${k} = 0.0;\n    var e${r}_${k} = 0.0;`)}
    for (var c = 0u; c < HS4; c++) {
      ${
    qs((k) => `let qv${k} = qkv_load4(qb${k} + c);\n      let gv${k} = dout_load4(ob${k} + c);`)
  }
      ${rows((r) => `let k${r} = ks[${r}u * HS4 + c];\n      let w${r} = ws[${r}u * HS4 + c];`)}
      ${
    rk(R, K, (r, k) => `s${r}_${k} += dot(k${r}, qv${k});\n      e${r}_${k} += dot(w${r}, gv${k});`)
  }
    }
    ${
    qs((k) =>
      `let lse${k} = lse[lrow0 + tj${k}];
    let D${k} = D[lrow0 + tj${k}];`
    )
  }
    ${
    keepWords(
      K * R / 4,
      `fa_row_base(grow0 + min(i0 + x / ${R / 4}u, u.T - 1u))`,
      `r0 + 4u * (x % ${R / 4}u)`,
    )
  }
    ${
    rk(R, K, (r, k) =>
      `let p${r}_${k} = select(0.0, exp(s${r}_${k} - lse${k}), okk${r} && j${k} < u.T && (u.causal == 0u || r0 + ${r}u <= j${k}));
    let f${r}_${k} = ${keepFactor(k, R / 4, r)};
    let ds${r}_${k} = p${r}_${k} * (f${r}_${k} * e${r}_${k} - D${k});
    let pf${r}_${k} = p${r}_${k} * f${r}_${k};`)
  }
    for (var c = 0u; c < HS4; c++) {
      ${
    qs((k) => `let qv${k} = qkv_load4(qb${k} + c);\n      let gv${k} = dout_load4(ob${k} + c);`)
  }
      ${
    rows((r) =>
      `dk[${r}u * HS4 + c] = dk[${r}u * HS4 + c] + ${
        sumOf(Array.from({ length: K }, (_, k) => `ds${r}_${k} * qv${k}`))
      };
      dv[${r}u * HS4 + c] = dv[${r}u * HS4 + c] + ${
        sumOf(Array.from({ length: K }, (_, k) => `pf${r}_${k} * gv${k}`))
      };`
    )
  }
    }
  }
  ${
    rows((r) =>
      `if (r0 + ${r}u < u.T) {
    for (var c = 0u; c < HS4; c++) {
      dqkv_store4(kb${r} + c, dk[${r}u * HS4 + c] * u.scale);
      dqkv_store4(kb${r} + u.C4 + c, dv[${r}u * HS4 + c]);
    }
  }`
    )
  }`;
}

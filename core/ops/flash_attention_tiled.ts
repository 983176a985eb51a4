/**
 * The `tiled` fused attention kernels (real GPUs): a workgroup of BR = 64 invocations owns 64 rows
 * of one head (query rows in the forward and dQ passes, key rows in the dK/dV pass), one row per
 * invocation held in private arrays, and stages the other side's rows through workgroup memory in
 * tiles of BC rows (loaded cooperatively, coalesced, read by all 64 rows). The dK/dV pass also
 * stages the tile's log-sum-exp, D and dropout keep bits (computed cooperatively, one Philox call
 * per 4 elements). Same formulas as the blocked kernels (flash_attention_blocked.ts); layouts in
 * flash_attention_kernel.ts.
 * @module
 */
import type { KernelSpec } from "../kernel.ts";
import { cachedSpec } from "../spec_cache.ts";
import {
  FLASH_UNIFORMS,
  flashBindings,
  flashPrelude,
  type FlashSpecKey,
  flashSpecName,
  NEG,
} from "./flash_attention_kernel.ts";

/** Rows per workgroup (one per invocation). */
export const TILED_ROWS = 64;

/** Rows of the other side per staged tile: 16 (8 above HS = 64, to stay within 16 KiB). */
export function tiledCols(HS: number): number {
  return HS <= 64 ? 16 : 8;
}

/** The kernel of a pass. */
export function tiledSpec(k: FlashSpecKey): KernelSpec {
  const name = flashSpecName("tiled", k);
  const H = k.HS / 4, BC = tiledCols(k.HS);
  return cachedSpec(name, () => ({
    name,
    bindings: flashBindings(k),
    uniforms: FLASH_UNIFORMS,
    workgroupSize: [TILED_ROWS],
    prelude: `${flashPrelude()}
const HS4 = ${H}u;
const BR = ${TILED_ROWS}u;
const BC = ${BC}u;
${
      k.pass === "dkv"
        ? `var<workgroup> qt: array<vec4f, ${BC * H}>;
var<workgroup> gt: array<vec4f, ${BC * H}>;
var<workgroup> lt: array<f32, ${BC}>;
var<workgroup> dt: array<f32, ${BC}>;
var<workgroup> kb4: array<u32, ${BC * (TILED_ROWS / 4)}>;`
        : `var<workgroup> kt: array<vec4f, ${BC * H}>;
var<workgroup> vt: array<vec4f, ${BC * H}>;
var<workgroup> okt: array<u32, ${BC}>;`
    }`,
    body: k.pass === "fwd" ? forwardBody() : k.pass === "dq" ? dqBody() : dkvBody(),
  }));
}

const HEADER = `
  let ntile = (u.T + BR - 1u) / BR;
  let wg = wid.x + wid.y * nwg.x;
  if (wg >= u.B * u.NH * ntile) { return; }
  let bh = wg / ntile;
  let r0 = (wg % ntile) * BR;
  let h = bh % u.NH;
  let b = bh / u.NH;
  let tok0 = b * u.T;
  let row3 = 3u * u.C4;
  let hq = h * HS4;
  let lrow0 = bh * u.T;
  let grow0 = ((u.b0 + b) * u.NH + h) * u.T;
  let me = r0 + lidx;
  let t = min(me, u.T - 1u);`;

/** Stage keys [j0, j0 + BC) of the head into kt, vt and their validity into okt. */
const STAGE_KV = `
    workgroupBarrier();
    for (var x = lidx; x < BC * HS4; x += BR) {
      let kb = (tok0 + min(j0 + x / HS4, u.T - 1u)) * row3 + u.C4 + hq + x % HS4;
      kt[x] = qkv_load4(kb);
      vt[x] = qkv_load4(kb + u.C4);
    }
    for (var x = lidx; x < BC; x += BR) {
      okt[x] = select(0u, 1u, j0 + x < jend && fa_key_ok(b, min(j0 + x, u.T - 1u)));
    }
    workgroupBarrier();`;

function forwardBody(): string {
  return `${HEADER}
  let qb = (tok0 + t) * row3 + hq;
  var q: array<vec4f, HS4>;
  var acc: array<vec4f, HS4>;
  for (var c = 0u; c < HS4; c++) { q[c] = qkv_load4(qb + c) * u.scale; acc[c] = vec4f(0.0); }
  var m = ${NEG};
  var l = 0.0;
  let base = fa_row_base(grow0 + t);
  let jend = select(u.T, min(u.T, r0 + BR), u.causal != 0u);
  for (var j0 = 0u; j0 < jend; j0 += BC) {
    ${STAGE_KV}
    var s: array<f32, BC>;
    var valid = 0u;
    var mx = m;
    for (var jr = 0u; jr < BC; jr++) {
      var sc = 0.0;
      for (var c = 0u; c < HS4; c++) { sc += dot(q[c], kt[jr * HS4 + c]); }
      let ok = okt[jr] != 0u && (u.causal == 0u || j0 + jr <= me);
      s[jr] = sc;
      valid |= select(0u, 1u << jr, ok);
      mx = max(mx, select(${NEG}, sc, ok));
    }
    let al = exp(m - mx);
    l *= al;
    for (var c = 0u; c < HS4; c++) { acc[c] *= al; }
    for (var j4 = 0u; j4 < BC; j4 += 4u) {
      let kp = fa_keep4(base, j0 + j4);
      for (var kk = 0u; kk < 4u; kk++) {
        let jr = j4 + kk;
        let p = select(0.0, exp(s[jr] - mx), ((valid >> jr) & 1u) != 0u);
        l += p;
        let d = select(0.0, p * u.keepScale, ((kp >> kk) & 1u) != 0u);
        for (var c = 0u; c < HS4; c++) { acc[c] += d * vt[jr * HS4 + c]; }
      }
    }
    m = mx;
  }
  if (me < u.T) {
    let inv = select(1.0 / l, 0.0, l == 0.0);
    let ob = (tok0 + me) * u.C4 + hq;
    for (var c = 0u; c < HS4; c++) { out_store4(ob + c, acc[c] * inv); }
    lse[lrow0 + me] = select(m + log(l), bitcast<f32>(0xff800000u), l == 0.0);
  }`;
}

function dqBody(): string {
  return `${HEADER}
  let qb = (tok0 + t) * row3 + hq;
  let ob = (tok0 + t) * u.C4 + hq;
  var q: array<vec4f, HS4>;
  var g: array<vec4f, HS4>;
  var dq: array<vec4f, HS4>;
  var Di = 0.0;
  for (var c = 0u; c < HS4; c++) {
    q[c] = qkv_load4(qb + c) * u.scale;
    g[c] = dout_load4(ob + c);
    Di += dot(g[c], out_load4(ob + c));
    dq[c] = vec4f(0.0);
  }
  let lse_i = lse[lrow0 + t];
  if (me < u.T) { D[lrow0 + me] = Di; }
  let base = fa_row_base(grow0 + t);
  let jend = select(u.T, min(u.T, r0 + BR), u.causal != 0u);
  var kp = 0u;
  for (var j0 = 0u; j0 < jend; j0 += BC) {
    ${STAGE_KV}
    for (var jr = 0u; jr < BC; jr++) {
      if ((jr & 3u) == 0u) { kp = fa_keep4(base, j0 + jr); }
      var sc = 0.0;
      var e = 0.0;
      for (var c = 0u; c < HS4; c++) {
        sc += dot(q[c], kt[jr * HS4 + c]);
        e += dot(g[c], vt[jr * HS4 + c]);
      }
      let ok = okt[jr] != 0u && (u.causal == 0u || j0 + jr <= me);
      let p = select(0.0, exp(sc - lse_i), ok);
      let f = select(0.0, u.keepScale, ((kp >> (jr & 3u)) & 1u) != 0u);
      let ds = p * (f * e - Di);
      for (var c = 0u; c < HS4; c++) { dq[c] += ds * kt[jr * HS4 + c]; }
    }
  }
  if (me < u.T) {
    for (var c = 0u; c < HS4; c++) { dqkv_store4(qb + c, dq[c] * u.scale); }
  }`;
}

function dkvBody(): string {
  return `${HEADER}
  let kb = (tok0 + t) * row3 + u.C4 + hq;
  var k: array<vec4f, HS4>;
  var w: array<vec4f, HS4>;
  var dk: array<vec4f, HS4>;
  var dv: array<vec4f, HS4>;
  for (var c = 0u; c < HS4; c++) {
    k[c] = qkv_load4(kb + c) * u.scale;
    w[c] = qkv_load4(kb + u.C4 + c);
    dk[c] = vec4f(0.0);
    dv[c] = vec4f(0.0);
  }
  let okk = me < u.T && fa_key_ok(b, t);
  let istart = select(0u, (r0 / BC) * BC, u.causal != 0u);
  for (var i0 = istart; i0 < u.T; i0 += BC) {
    workgroupBarrier();
    for (var x = lidx; x < BC * HS4; x += BR) {
      let qi = min(i0 + x / HS4, u.T - 1u);
      qt[x] = qkv_load4((tok0 + qi) * row3 + hq + x % HS4);
      gt[x] = dout_load4((tok0 + qi) * u.C4 + hq + x % HS4);
    }
    for (var x = lidx; x < BC; x += BR) {
      let qi = min(i0 + x, u.T - 1u);
      lt[x] = lse[lrow0 + qi];
      dt[x] = D[lrow0 + qi];
    }
    for (var x = lidx; x < BC * (BR / 4u); x += BR) {
      let qi = min(i0 + x / (BR / 4u), u.T - 1u);
      kb4[x] = fa_keep4(fa_row_base(grow0 + qi), r0 + 4u * (x % (BR / 4u)));
    }
    workgroupBarrier();
    for (var ir = 0u; ir < BC; ir++) {
      let qi = i0 + ir;
      var sc = 0.0;
      var e = 0.0;
      for (var c = 0u; c < HS4; c++) {
        sc += dot(qt[ir * HS4 + c], k[c]);
        e += dot(gt[ir * HS4 + c], w[c]);
      }
      let ok = okk && qi < u.T && (u.causal == 0u || me <= qi);
      let p = select(0.0, exp(sc - lt[ir]), ok);
      let bit = (kb4[ir * (BR / 4u) + lidx / 4u] >> (lidx & 3u)) & 1u;
      let f = select(0.0, u.keepScale, bit != 0u);
      let ds = p * (f * e - dt[ir]);
      let pf = p * f;
      for (var c = 0u; c < HS4; c++) {
        dv[c] += pf * gt[ir * HS4 + c];
        dk[c] += ds * qt[ir * HS4 + c];
      }
    }
  }
  if (me < u.T) {
    for (var c = 0u; c < HS4; c++) {
      dqkv_store4(kb + c, dk[c] * u.scale);
      dqkv_store4(kb + u.C4 + c, dv[c]);
    }
  }`;
}

/**
 * The `tiled` matmul kernel (real GPUs): a workgroup computes a tile.m x tile.n block of C,
 * staging k-slices of A [tile.m, tile.k] and B [tile.k, tile.n] through workgroup memory with
 * scalar loads coalesced along each operand's contiguous axis (zero past the edges); each of its
 * (n / tn) x (m / tm) invocations accumulates tm x tn outputs strided by the workgroup's size.
 * The tile comes from the kernel policy (`KernelPolicy.tile`, TEMPO_KERNELS `tile=`), so a
 * device run can pick it.
 * @module
 */
import type { KernelSpec } from "../../kernel.ts";
import { type MatmulTile, tileText } from "../../kernel_policy.ts";
import { cachedSpec } from "../../spec_cache.ts";
import { bufferKernel } from "./buffer_kernel.ts";

/** Shared-memory tiled kernel for a layout and a tile. */
export function tiledSpec(transA: boolean, transB: boolean, tile: MatmulTile): KernelSpec {
  const t = tile;
  const layout = `${transA ? "T" : "N"}${transB ? "T" : "N"}`;
  const name = `matmul_tiled_${layout}_${tileText(t).replace("/", "_")}`;
  return cachedSpec(name, () => {
    const WX = t.n / t.tn, WY = t.m / t.tm, WG = WX * WY;
    // Tile element e -> (outer, kk), consecutive e along the operand's contiguous axis.
    const tileA = transA
      ? `let kk = e / ${t.m}u; let mm = e % ${t.m}u;`
      : `let mm = e / ${t.k}u; let kk = e % ${t.k}u;`;
    const idxA = transA ? "gk * u.lda + gm" : "gm * u.lda + gk";
    const tileB = transB
      ? `let nn = e / ${t.k}u; let kk = e % ${t.k}u;`
      : `let kk = e / ${t.n}u; let nn = e % ${t.n}u;`;
    const idxB = transB ? "gn * u.ldb + gk" : "gk * u.ldb + gn";
    // Each invocation stages ceil(elements / WG) of each slice (guarded when WG does not divide;
    // an if, not a break, so that the barrier after the loop stays in uniform control flow).
    const stage = (elems: number, what: string) => {
      const per = Math.ceil(elems / WG);
      const body = per * WG === elems
        ? `{\n      ${what}\n    }`
        : `if (e < ${elems}u) {\n      ${what}\n    }`;
      return `for (var r = 0u; r < ${per}u; r++) {
      let e = lidx + r * ${WG}u;
      ${body}
    }`;
    };
    const body = `let n0 = wid.x * ${t.n}u;
  let m0 = wid.y * ${t.m}u;
  let bi = wid.z;
  let abase = u.offA + bi * u.sA;
  let bbase = u.offB + bi * u.sB;
  var acc: array<array<f32, ${t.tn}>, ${t.tm}>;
  for (var k0 = 0u; k0 < u.K; k0 += ${t.k}u) {
    ${
      stage(
        t.m * t.k,
        `${tileA}
      let gm = m0 + mm; let gk = k0 + kk;
      var v = 0.0;
      if (gm < u.M && gk < u.K) { v = A[abase + ${idxA}]; }
      As[kk * ${t.m}u + mm] = v;`,
      )
    }
    ${
      stage(
        t.n * t.k,
        `${tileB}
      let gn = n0 + nn; let gk = k0 + kk;
      var v = 0.0;
      if (gn < u.N && gk < u.K) { v = B[bbase + ${idxB}]; }
      Bs[kk * ${t.n}u + nn] = v;`,
      )
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${t.k}u; kk++) {
      var av: array<f32, ${t.tm}>;
      for (var i = 0u; i < ${t.tm}u; i++) { av[i] = As[kk * ${t.m}u + lid.y + i * ${WY}u]; }
      for (var j = 0u; j < ${t.tn}u; j++) {
        let bv = Bs[kk * ${t.n}u + lid.x + j * ${WX}u];
        for (var i = 0u; i < ${t.tm}u; i++) { acc[i][j] += av[i] * bv; }
      }
    }
    workgroupBarrier();
  }
  let cbase = u.offC + bi * u.sC;
  for (var i = 0u; i < ${t.tm}u; i++) {
    let m = m0 + lid.y + i * ${WY}u;
    if (m >= u.M) { continue; }
    for (var j = 0u; j < ${t.tn}u; j++) {
      let n = n0 + lid.x + j * ${WX}u;
      if (n < u.N) { store_c(cbase + m * u.ldc + n, acc[i][j]); }
    }
  }`;
    return bufferKernel({
      name,
      vecA: false,
      vecB: false,
      workgroupSize: [WX, WY],
      prelude: `var<workgroup> As: array<f32, ${t.m * t.k}>;
var<workgroup> Bs: array<f32, ${t.n * t.k}>;`,
      body,
    });
  });
}

/**
 * The buffer path (`blocked` and `tiled` kernels): A, B and C bound directly as storage buffers,
 * one dispatch per chunk of the plan (`planChunks`).
 * @module
 */
import type { KernelPolicy } from "../../kernel_policy.ts";
import { blockedPerWorkgroup, blockedSpec } from "./blocked.ts";
import { cStoreOf } from "./c_store.ts";
import { planChunks } from "./chunks.ts";
import { bindC, bindRange, type Product } from "./product.ts";
import { tiledSpec } from "./tiled.ts";

/** Run the product with the blocked kernel (the policy's block), or the tiled one (its tile). */
export function matmulBuffers(
  p: Product,
  kernel: "blocked" | "tiled",
  policy: Pick<KernelPolicy, "block" | "tile">,
): void {
  const { enc, gpu, A, B, M, N, K, transA, transB, alpha, beta, batch, sA, sB, sC } = p;
  const blocked = kernel === "blocked";
  // vec4 reads need the vector axis, the batch stride and every chunk origin to be multiples of 4.
  const vec = blocked || policy.tile.vec4;
  const vecA = vec && (transA ? M % 4 === 0 : K % 4 === 0) && (batch === 1 || sA % 4 === 0);
  const vecB = vec && (transB ? K % 4 === 0 : N % 4 === 0) && (batch === 1 || sB % 4 === 0);
  // The blocked kernel stores single elements or pairs; the tiled one quads where C allows.
  const store = cStoreOf(p, !blocked);
  if (store === null) throw new Error(`matmul: no store for ${p.C} with N = ${N}`); // refused before
  const d = { dA: p.dA, dB: p.dB, dC: p.dC };
  const spec = blocked
    ? blockedSpec(
      { transA, transB, vecA, vecB, ...d, store: store === "quad" ? "single" : store },
      policy.block,
    )
    : tiledSpec({ transA, transB, vecA, vecB, ...d, store }, policy.tile);
  const per = blocked ? blockedPerWorkgroup(policy.block) : policy.tile;
  const perM = per.m, perN = per.n;
  const ch = planChunks(p, { m: 65535 * perM, n: 65535 * perN });
  const ldA = transA ? M : K, ldB = transB ? K : N;
  const qa = vecA ? 4 : 1, qb = vecB ? 4 : 1;
  for (let b0 = 0; b0 < batch; b0 += ch.bb) {
    const nb = Math.min(ch.bb, batch - b0);
    for (let m0 = 0; m0 < M; m0 += ch.bm) {
      const mc = Math.min(ch.bm, M - m0);
      for (let n0 = 0; n0 < N; n0 += ch.bn) {
        const nc = Math.min(ch.bn, N - n0);
        for (let k0 = 0; k0 < K; k0 += ch.bk) {
          const kc = Math.min(ch.bk, K - k0);
          const last = nb - 1;
          // Each operand's chunk: batches b0..b0+last of rows r0..r0+rc-1, columns c0..c0+cc-1
          // of a row-major [rows, ld] matrix (A is [K, M] when transposed, B [N, K]).
          const span = (
            t: typeof A,
            s: number,
            ld: number,
            r0: number,
            rc: number,
            c0: number,
            cc: number,
          ) =>
            bindRange(
              gpu,
              t,
              b0 * s + r0 * ld + c0,
              (b0 + last) * s + (r0 + rc - 1) * ld + c0 + cc,
            );
          const [ra, offA] = transA
            ? span(A, sA, ldA, k0, kc, m0, mc)
            : span(A, sA, ldA, m0, mc, k0, kc);
          const [rb, offB] = transB
            ? span(B, sB, ldB, n0, nc, k0, kc)
            : span(B, sB, ldB, k0, kc, n0, nc);
          const [rc, offC] = bindC(p, b0, nb, m0, mc, n0, nc);
          if (offA % qa !== 0 || offB % qb !== 0) throw new Error("matmul: misaligned vec4 chunk");
          enc.dispatch(spec, { A: ra, B: rb, C: rc }, {
            M: mc,
            N: nc,
            K: kc,
            lda: ldA / qa,
            ldb: ldB / qb,
            ldc: N,
            offA: offA / qa,
            offB: offB / qb,
            offC,
            sA: nb > 1 ? sA / qa : 0,
            sB: nb > 1 ? sB / qb : 0,
            sC,
            alpha,
            beta: k0 === 0 ? beta : 1,
          }, [Math.ceil(nc / perN), Math.ceil(mc / perM), nb]);
        }
      }
    }
  }
}

/**
 * The texture path: per chunk of the geometry's plan, pack op(A) and op(B) into the encoder's two
 * scratch textures (each operand only when its chunk changed: a broadcast B or a k-only loop is
 * packed once per change), then one texture kernel writes C.
 * @module
 */
import { hasReadOnlyStorageTextures } from "../../kernel.ts";
import { cStoreOf } from "./c_store.ts";
import { bindC, bindRange, type Product } from "./product.ts";
import { rowShift, textureGeometry, type TextureLimits } from "./texture_geometry.ts";
import { TEXTURE_BLOCK, TEXTURE_PER_WORKGROUP, textureSpec } from "./texture_kernel.ts";
import { type PackSteps, packSteps, textureFormatOf } from "./texture_pack.ts";

const XM = TEXTURE_BLOCK.m, XN = TEXTURE_BLOCK.n;

/** Run the product on the texture path. */
export function matmulTexture(p: Product, limits: TextureLimits): void {
  const { enc, gpu, A, B, M, N, K, transA, transB, alpha, beta, batch, sA, sB, sC } = p;
  const g = textureGeometry(p, limits);
  const { ch, natA, natB, W } = g;
  const formatA = textureFormatOf(p.dA), formatB = textureFormatOf(p.dB);
  const texA = enc.scratchTexture("matmul.A", g.texA.width, g.texA.height, formatA)!;
  const texB = enc.scratchTexture("matmul.B", g.texB.width, g.texB.height, formatB)!;
  const access = hasReadOnlyStorageTextures() ? "read" : "sampled";
  // op(A)[m, k] = A[m * ldr + k * ldk]; op(B)^T[n, k] likewise.
  const [ldrA, ldkA] = transA ? [1, M] : [K, 1];
  const [ldrB, ldkB] = transB ? [K, 1] : [1, N];
  const bind = (t: typeof A, s: number, e: number) => bindRange(gpu, t, s, e);
  // C as quads when every row and batch item starts on a vec4 (chunk origins along n are
  // multiples of 4; offC, from bindC, then is too), else single elements (f32 only: 16-bit C
  // with unaligned rows runs the blocked kernel, `matmulKernelFor`).
  const store = cStoreOf(p, true);
  if (store !== "quad" && p.dC !== "f32") {
    throw new Error(`matmul texture: 16-bit ${p.C} with rows not 4-aligned (N = ${N})`);
  }
  let packedA = "", packedB = "";
  for (let b0 = 0; b0 < batch; b0 += ch.bb) {
    const nb = Math.min(ch.bb, batch - b0);
    const nbB = sB > 0 ? nb : 1;
    for (let m0 = 0; m0 < M; m0 += ch.bm) {
      const mc = Math.min(ch.bm, M - m0), Mp = Math.ceil(mc / XM) * XM;
      for (let n0 = 0; n0 < N; n0 += ch.bn) {
        const nc = Math.min(ch.bn, N - n0), Np = Math.ceil(nc / XN) * XN;
        for (let k0 = 0; k0 < K; k0 += ch.bk) {
          const kc = Math.min(ch.bk, K - k0), P = Math.ceil(kc / 4), Kp = 4 * P;
          // Texels per packed row and rows per line of each operand.
          const PA = natA ? Math.ceil(mc / 4) : P, PB = natB ? Math.ceil(nc / 4) : P;
          const shA = rowShift(Math.min(texA.width, W), PA);
          const shB = rowShift(Math.min(texB.width, W), PB);
          // Pack what changed since the last chunk: copies first (they end the pass), then
          // packing kernels, so that a chunk breaks the pass at most once.
          const jobs: PackSteps[] = [];
          const keyA = `${b0}:${m0}:${k0}`;
          if (keyA !== packedA) {
            const first = b0 * sA + m0 * ldrA + k0 * ldkA, at = { items: nb, itemStride: sA };
            jobs.push(packSteps(
              enc,
              natA
                ? {
                  X: A,
                  tex: texA,
                  mode: g.modeA,
                  first,
                  ...at,
                  rows: kc,
                  paddedRows: Kp,
                  rowStride: M,
                  step: 1,
                  length: mc,
                  texels: PA,
                  shift: shA,
                  rowLength: M,
                  natural: true,
                }
                : {
                  X: A,
                  tex: texA,
                  mode: g.modeA,
                  first,
                  ...at,
                  rows: mc,
                  paddedRows: Mp,
                  rowStride: ldrA,
                  step: ldkA,
                  length: kc,
                  texels: P,
                  shift: shA,
                  rowLength: K,
                  natural: false,
                },
              bind,
            ));
            packedA = keyA;
          }
          const keyB = `${sB > 0 ? b0 : 0}:${n0}:${k0}`;
          if (keyB !== packedB) {
            const first = b0 * sB + n0 * ldrB + k0 * ldkB, at = { items: nbB, itemStride: sB };
            jobs.push(packSteps(
              enc,
              natB
                ? {
                  X: B,
                  tex: texB,
                  mode: g.modeB,
                  first,
                  ...at,
                  rows: kc,
                  paddedRows: Kp,
                  rowStride: N,
                  step: 1,
                  length: nc,
                  texels: PB,
                  shift: shB,
                  rowLength: N,
                  natural: true,
                }
                : {
                  X: B,
                  tex: texB,
                  mode: g.modeB,
                  first,
                  ...at,
                  rows: nc,
                  paddedRows: Np,
                  rowStride: ldrB,
                  step: ldkB,
                  length: kc,
                  texels: P,
                  shift: shB,
                  rowLength: K,
                  natural: false,
                },
              bind,
            ));
            packedB = keyB;
          }
          for (const j of jobs) j.copy?.();
          for (const j of jobs) j.after?.();
          const [rc, offC] = bindC(p, b0, nb, m0, mc, n0, nc);
          const kb = k0 === 0 ? beta : 1;
          const spec = textureSpec({
            access,
            beta: kb,
            dC: p.dC,
            store: store === "quad" ? "quad" : "single",
            natA: natA !== null,
            natB: natB !== null,
            formatA,
            formatB,
          });
          enc.dispatch(spec, { C: rc, A: texA, B: texB }, {
            M: mc,
            N: nc,
            Mp,
            Np,
            P,
            PA,
            PB,
            shA,
            shB,
            sAr: natA ? Kp : Mp,
            sBr: sB > 0 ? (natB ? Kp : Np) : 0,
            ldc: N,
            offC,
            sC,
            alpha,
          }, [
            Math.ceil(Np / TEXTURE_PER_WORKGROUP.n),
            Math.ceil(Mp / TEXTURE_PER_WORKGROUP.m),
            nb,
          ]);
        }
      }
    }
  }
}

/**
 * Texture geometry of the texture path: how wide a texture line is, how many packed rows go to a
 * line (a power of two, so the kernels shift instead of divide: integer division is scalarised
 * per lane on llvmpipe), how a product is chunked so that each packed operand fits its scratch
 * texture and the byte budget, and which operands are packed in their natural layout.
 *
 * Each operand is packed one of two ways (see `textureSpec`):
 * - k-rows: rows of op(A) [M, K] and of op(B)^T [N, K], each as ceil(k / 4) texels of 4 k,
 *   padded with zero rows to the kernel's block (32 rows of A, 16 of B);
 * - natural: an operand whose rows run along m or n (A stored [K, M], B stored [K, N]: the
 *   backward's dX = dY W and dW = dY^T X) keeps that layout, one texture row per k, so aligned
 *   chunks are packed by a plain copy instead of a transpose.
 * @module
 */
import { type Chunks, planChunks } from "./chunks.ts";
import type { Product } from "./product.ts";
import { TEXTURE_BLOCK } from "./texture_kernel.ts";
import type { PackMode } from "./texture_pack.ts";

const XM = TEXTURE_BLOCK.m, XN = TEXTURE_BLOCK.n;

/** The texture path's limits (`MatmulOptions`). */
export interface TextureLimits {
  /** Most packed bytes of each operand. */
  maxScratchBytes: number;
  /** Widest texture line in texels (at most maxTextureDimension2D and 8192). */
  maxTextureWidth: number;
}

/** An operand packed in its natural layout: rows per line, lines, texels per row (largest chunk). */
export interface NaturalLayout {
  /** Packed rows (k) per texture line. */
  rpl: number;
  /** Texture lines. */
  lines: number;
  /** Texels per packed row. */
  Pn: number;
}

/** Everything the texture path's chunk loop needs to know before it starts. */
export interface TextureGeometry {
  /** Widest texture line the path uses, in texels. */
  W: number;
  /** Chunk sizes. */
  ch: Chunks;
  /** A packed in its natural layout (A stored [K, M]), or null for k-rows. */
  natA: NaturalLayout | null;
  /** B packed in its natural layout (B stored [K, N]), or null for k-rows. */
  natB: NaturalLayout | null;
  /** Least size of the scratch texture of A, in texels. */
  texA: { width: number; height: number };
  /** Least size of the scratch texture of B, in texels. */
  texB: { width: number; height: number };
  /** How the packing kernel reads A and B when a chunk is not a copy. */
  modeA: PackMode;
  /** As modeA, for B. */
  modeB: PackMode;
}

/** log2 of the rows of P texels that fit a line of `width` texels (rows per line: a power of 2). */
export function rowShift(width: number, P: number): number {
  let sh = 0;
  while ((2 << sh) * P <= width) sh++;
  return sh;
}

/**
 * The geometry of a product on the texture path: chunks keep each packed operand within
 * maxScratchBytes and the texture within maxTextureDimension2D (over batch, m, n, and k beyond
 * 4 * width texels), and each buffer binding within the storage-binding limit.
 */
export function textureGeometry(p: Product, t: TextureLimits): TextureGeometry {
  const { M, N, K, batch, transA, transB, sA, sB } = p;
  const H = p.gpu.device.limits.maxTextureDimension2D;
  const budget = Math.floor(t.maxScratchBytes / 16);
  const W = Math.max(1, Math.min(8192, H, Math.floor(t.maxTextureWidth), budget));
  const capTexels = Math.min(W * H, budget);
  const rplOf = (P: number) => 2 ** rowShift(W, P);
  const rowsCap = (P: number) => Math.min(rplOf(P) * H, Math.floor(capTexels / P), 65535 * 8);
  let P0 = Math.ceil(Math.min(K, 4 * W) / 4);
  // When all rows of a batch item fit only with fewer k (LM-head shapes: M, N ~ 100s, K ~ 30000),
  // split k (accumulating into C) rather than m or n: each dispatch keeps all its workgroups,
  // where an n split of a 1-workgroup-high product leaves a core idle. Only for k chunks of at
  // least 256, so that the extra passes over C stay small.
  const rows1 = Math.max(Math.ceil(M / XM) * XM, Math.ceil(N / XN) * XN);
  const Pk = Math.min(Math.floor(capTexels / rows1), W);
  if (rowsCap(P0) < rows1 && Pk >= 64 && rplOf(Pk) * H >= rows1) P0 = Pk;
  // Not even one block of rows at full k: split k as much as needed.
  if (rowsCap(P0) < XM) P0 = Math.max(1, Math.min(P0, Math.floor(capTexels / XM)));
  const capM = Math.floor(rowsCap(P0) / XM) * XM, capN = Math.floor(rowsCap(P0) / XN) * XN;
  if (capM < XM) {
    throw new Error(`matmul: maxScratchBytes ${t.maxScratchBytes} cannot hold ${XM} packed rows`);
  }
  const ch = planChunks(p, { m: capM, n: capN, k: Math.min(K, 4 * P0) });
  ch.bk = Math.min(ch.bk, 4 * W);
  const Pmax = Math.ceil(ch.bk / 4);
  const MpMax = Math.ceil(ch.bm / XM) * XM, NpMax = Math.ceil(ch.bn / XN) * XN;
  const capRows = rowsCap(Pmax);
  ch.bb = Math.max(
    1,
    Math.min(ch.bb, Math.floor(capRows / MpMax), sB > 0 ? Math.floor(capRows / NpMax) : Infinity),
  );
  // Lines of rplMax rows of Pmax texels. A chunk with fewer k (P < Pmax) packs 2^sh >= rplMax
  // rows into a line of min(texture width, W) texels (the texture may be larger: it only grows),
  // so it needs no more lines.
  const rplMax = rplOf(Pmax);
  const itemsB = sB > 0 ? ch.bb : 1;
  // A natural operand needs its rows vec4-aligned, and its largest chunk must fit the texture in
  // no more texels than the k-rows layout would take (give or take the last, partial line).
  const KpMax = Math.ceil(ch.bk / 4) * 4;
  const naturalLayout = (len: number, items: number, kRowsTexels: number) => {
    const Pn = Math.ceil(len / 4);
    if (Pn > W) return null;
    const rpl = rplOf(Pn), lines = Math.ceil((items * KpMax) / rpl);
    return lines <= H && rpl * Pn * (lines - 1) <= Math.max(kRowsTexels, capTexels)
      ? { rpl, lines, Pn }
      : null;
  };
  const aligned = (len: number, s: number) => len % 4 === 0 && (batch === 1 || s % 4 === 0);
  const linesA = Math.ceil((ch.bb * MpMax) / rplMax);
  const linesB = Math.ceil((itemsB * NpMax) / rplMax);
  const natA = transA && aligned(M, sA)
    ? naturalLayout(ch.bm, ch.bb, rplMax * Pmax * linesA)
    : null;
  const natB = !transB && aligned(N, sB)
    ? naturalLayout(ch.bn, itemsB, rplMax * Pmax * linesB)
    : null;
  // vec4 packing: along k when k is contiguous, along rows when rows are; every chunk origin is
  // then a multiple of 4 too (chunk sizes are, or cover the whole dimension). Natural operands
  // are vec4 along their rows (m or n).
  const mode = (kContig: boolean, rows: number, s: number): PackMode =>
    (kContig ? K : rows) % 4 !== 0 || (batch > 1 && s % 4 !== 0) ? "s" : kContig ? "k4" : "r4";
  return {
    W,
    ch,
    natA,
    natB,
    texA: natA
      ? { width: natA.rpl * natA.Pn, height: natA.lines }
      : { width: rplMax * Pmax, height: linesA },
    texB: natB
      ? { width: natB.rpl * natB.Pn, height: natB.lines }
      : { width: rplMax * Pmax, height: linesB },
    modeA: natA ? "k4" : mode(!transA, M, sA),
    modeB: natB ? "k4" : mode(transB, N, sB),
  };
}

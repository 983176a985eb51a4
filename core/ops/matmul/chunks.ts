/**
 * The chunk planner: sizes of the pieces a product is split into along batch, m, n and k so
 * that each piece's A, B and C element ranges fit one storage binding (and, for the texture
 * path, its packed operands fit the scratch textures; for every path, its grid fits 65535
 * workgroups). A k split accumulates into C (beta 1 after the first piece).
 * @module
 */
import type { Product } from "./product.ts";

/** Chunk sizes along batch, m, n, k. */
export interface Chunks {
  /** Batch items per chunk. */
  bb: number;
  /** Rows of C per chunk. */
  bm: number;
  /** Columns of C per chunk. */
  bn: number;
  /** k per chunk. */
  bk: number;
}

/** Upper bounds of a chunk before the binding limit is applied. */
export interface ChunkCaps {
  /** Most rows per chunk (the grid's or the texture's). */
  m: number;
  /** Most columns per chunk. */
  n: number;
  /** Most k per chunk (default K). */
  k?: number;
}

/** Half of `x`, rounded up to a multiple of 4 (64 when large, to keep kernel blocks whole). */
function halve(x: number): number {
  const h = Math.ceil(x / 2);
  const q = h > 256 ? 64 : 4;
  return Math.ceil(h / q) * q;
}

/**
 * Chunk sizes such that each chunk's A, B and C element ranges fit in `p.limit` elements. Chunk
 * sizes along m, n, k are multiples of 4 (vec4 alignment) unless they cover the whole dimension.
 * An operand range too big is shrunk by halving the batch first (when it has a batch stride),
 * then its outer dimensions.
 */
export function planChunks(p: Product, caps: ChunkCaps): Chunks {
  const { M, N, K, batch, transA, transB, sA, sB, sC, limit } = p;
  const c: Chunks = {
    bb: Math.min(batch, 65535),
    bm: Math.min(M, caps.m),
    bn: Math.min(N, caps.n),
    bk: caps.k ?? K,
  };
  if (c.bm < M) c.bm = Math.floor(c.bm / 4) * 4;
  if (c.bn < N) c.bn = Math.floor(c.bn / 4) * 4;
  const spanA = () => (c.bb - 1) * sA + (transA ? (c.bk - 1) * M + c.bm : (c.bm - 1) * K + c.bk);
  const spanB = () => (c.bb - 1) * sB + (transB ? (c.bn - 1) * K + c.bk : (c.bk - 1) * N + c.bn);
  const spanC = () => (c.bb - 1) * sC + (c.bm - 1) * N + c.bn;
  for (;;) {
    let dims: (keyof Chunks)[];
    let stride: number;
    if (spanA() > limit) [dims, stride] = [transA ? ["bk", "bm"] : ["bm", "bk"], sA];
    else if (spanB() > limit) [dims, stride] = [transB ? ["bn", "bk"] : ["bk", "bn"], sB];
    else if (spanC() > limit) [dims, stride] = [["bm", "bn"], sC];
    else return c;
    if (c.bb > 1 && stride > 0) {
      c.bb = Math.ceil(c.bb / 2);
      continue;
    }
    const d = dims.find((d) => c[d] > 4);
    if (!d) {
      throw new Error(
        `matmul: cannot split [${M}x${K}]@[${K}x${N}] into storage bindings of ${limit} elements`,
      );
    }
    c[d] = halve(c[d]);
  }
}

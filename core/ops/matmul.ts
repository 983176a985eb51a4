/**
 * Matrix multiply: C = alpha * op(A) @ op(B) + beta * C, f32, batched, any layout (NN, NT, TN, TT),
 * any M, N, K >= 1. Two kernel families behind one function:
 * - `blocked` (software adapter): each invocation computes a 16x16 block in registers, reading
 *   both operands with vec4 loads where the layout allows (along k, or along m / n), scalar loads
 *   otherwise. With an operand read along k (K % 4 == 0) it steps 4 k at a time with `dot()` of
 *   vec4 pairs; otherwise one k per step with vec4 multiply-adds (no tail, no masking).
 *   On llvmpipe every storage-buffer load is a per-lane loop (Mesa 22.3), so the time is set by
 *   the loads per multiply-add, i.e. by the block size: 4x4 1.2, 8x8 2.2, 16x16 4.2, 32x32 7.7
 *   GFLOP/s at 1024^3 on a 2-core AVX2 host; 16x16 keeps the cold compile near 3 s per kernel
 *   (32x16 takes 12 s, 32x32 45 s).
 * - `tiled` (real GPUs): 64x64 shared-memory tiles, 16x16 invocations with 4x4 outputs each.
 * Operands larger than one storage binding are split into chunks (over batch, m, n or k, whichever
 * shrinks the operand) bound through TensorRange; a k split accumulates into C with beta 1.
 * Ops never allocate: A, B, C are the caller's.
 * @module
 */
import type { Encoder, TensorRange } from "../encoder.ts";
import type { KernelSpec } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";

/** Kernel family: `auto` picks `blocked` on a software adapter, `tiled` otherwise. */
export type MatmulVariant = "auto" | "blocked" | "tiled";

/** Options of `matmul`. */
export interface MatmulOptions {
  /** A is stored [K,M] (row-major) instead of [M,K]. */
  transA?: boolean;
  /** B is stored [N,K] instead of [K,N]. */
  transB?: boolean;
  /** Scale of the product (default 1). */
  alpha?: number;
  /** 0 (C is overwritten; old contents ignored, even NaN) or 1 (accumulate). Default 0. */
  beta?: number;
  /** Number of independent products (default 1). */
  batch?: number;
  /** Elements between consecutive A matrices (default M*K). */
  strideA?: number;
  /** Elements between consecutive B matrices (default K*N; 0 broadcasts one B to every batch). */
  strideB?: number;
  /** Elements between consecutive C matrices (default M*N; at least M*N when batch > 1). */
  strideC?: number;
  /** Largest storage binding in bytes (default gpu.maxBinding); tests lower it to force chunking. */
  maxBindingBytes?: number;
  /** Kernel family (default `auto`). */
  variant?: MatmulVariant;
}

/** Blocked kernel: outputs per invocation along m and n (multiples of 4). */
const TM = 16, TN = 16;
/** Blocked kernel: workgroup 8x8 (SIMD lanes run along x on llvmpipe). */
const BWG = 8;
/** Tiled kernel: tile side, k-slice, invocations per side. */
const TS = 64, BK = 16, TWG = 16;

const UNIFORMS: readonly (readonly [string, "u32" | "f32"])[] = [
  ["M", "u32"],
  ["N", "u32"],
  ["K", "u32"],
  ["lda", "u32"],
  ["ldb", "u32"],
  ["ldc", "u32"],
  ["offA", "u32"],
  ["offB", "u32"],
  ["offC", "u32"],
  ["sA", "u32"],
  ["sB", "u32"],
  ["sC", "u32"],
  ["alpha", "f32"],
  ["beta", "f32"],
];

/** How one operand of the blocked kernel is read. */
interface Operand {
  /** Binding name, "A" or "B". */
  bind: string;
  /** Prefix of generated variables. */
  p: string;
  /** Outputs per invocation along this operand's outer dimension (TM or TN). */
  t: number;
  /** Uniform of the outer dimension ("M" or "N") and the first output index ("m0" or "n0"). */
  dim: string;
  o0: string;
  /** Stored with k contiguous (A not transposed, B transposed). */
  kContig: boolean;
  /** Read as vec4 (along k when kContig, else along the outer dimension). */
  vec: boolean;
  /** Uniform names of offset, batch stride and leading dimension. */
  off: string;
  s: string;
  ld: string;
}

/** Setup lines: per-row base indices, computed once per invocation. */
function setup(o: Operand): string[] {
  const { p, t, dim, o0 } = o;
  const lines = [`let ${p}base = u.${o.off} + bi * u.${o.s};`];
  if (o.kContig) {
    // Row i of the operand starts at base + min(o0 + i, dim - 1) * ld (rows past the edge clamp).
    for (let i = 0; i < t; i++) {
      lines.push(`let ${p}r${i} = ${p}base + min(${o0} + ${i}u, u.${dim} - 1u) * u.${o.ld};`);
    }
  } else if (o.vec) {
    // Column group g (4 outputs) at index min(o0 + 4g, dim - 4) / 4 of each k row (dim % 4 == 0).
    for (let g = 0; g < t / 4; g++) {
      lines.push(`let ${p}c${g} = min(${o0} + ${4 * g}u, u.${dim} - 4u) / 4u;`);
    }
  } else {
    for (let i = 0; i < t; i++) lines.push(`let ${p}c${i} = min(${o0} + ${i}u, u.${dim} - 1u);`);
  }
  return lines;
}

/**
 * Quad mode (some operand is read as vec4 along k, so K % 4 == 0): lines loading `${p}f${i}` =
 * vec4 over k..k+3 for each of the operand's t rows.
 */
function loadQuad(o: Operand): string[] {
  const { p, t, bind } = o;
  const lines: string[] = [];
  if (o.kContig && o.vec) {
    for (let i = 0; i < t; i++) lines.push(`let ${p}f${i} = ${bind}[${p}r${i} + k4];`);
  } else if (o.kContig) {
    for (let i = 0; i < t; i++) {
      const e = [0, 1, 2, 3].map((kk) => `${bind}[${p}r${i} + k + ${kk}u]`);
      lines.push(`let ${p}f${i} = vec4f(${e.join(", ")});`);
    }
  } else {
    for (let kk = 0; kk < 4; kk++) {
      lines.push(`let ${p}k${kk} = ${p}base + (k + ${kk}u) * u.${o.ld};`);
    }
    if (o.vec) {
      for (let g = 0; g < t / 4; g++) {
        for (let kk = 0; kk < 4; kk++) {
          lines.push(`let ${p}q${kk}_${g} = ${bind}[${p}k${kk} + ${p}c${g}];`);
        }
        for (let c = 0; c < 4; c++) {
          const q = [0, 1, 2, 3].map((kk) => `${p}q${kk}_${g}[${c}]`);
          lines.push(`let ${p}f${4 * g + c} = vec4f(${q.join(", ")});`);
        }
      }
    } else {
      for (let i = 0; i < t; i++) {
        const e = [0, 1, 2, 3].map((kk) => `${bind}[${p}k${kk} + ${p}c${i}]`);
        lines.push(`let ${p}f${i} = vec4f(${e.join(", ")});`);
      }
    }
  }
  return lines;
}

/**
 * Step mode (no operand read along k as vec4): lines loading the operand at one k, as scalars
 * `${p}f${i}`, or as vec4 groups `${p}q${g}` along the outer dimension.
 */
function loadStep(o: Operand): string[] {
  const { p, t, bind } = o;
  if (o.kContig) {
    return Array.from({ length: t }, (_, i) => `let ${p}f${i} = ${bind}[${p}r${i} + k];`);
  }
  const lines = [`let ${p}k = ${p}base + k * u.${o.ld};`];
  if (o.vec) {
    for (let g = 0; g < t / 4; g++) lines.push(`let ${p}q${g} = ${bind}[${p}k + ${p}c${g}];`);
    for (let i = 0; i < t; i++) lines.push(`let ${p}f${i} = ${p}q${i >> 2}[${i & 3}];`);
  } else {
    for (let i = 0; i < t; i++) lines.push(`let ${p}f${i} = ${bind}[${p}k + ${p}c${i}];`);
  }
  return lines;
}

/**
 * Accumulate: quad mode acc{i}_{j4} += (dot(a_i, b_{4j4+c}))_c; step mode acc{i}_{j4} += a_i *
 * (b_{4j4..4j4+3}) (B's vec4 group directly when B is read as vec4 along n).
 */
function accumulate(quad: boolean, bq: boolean): string[] {
  const lines: string[] = [];
  for (let i = 0; i < TM; i++) {
    for (let j4 = 0; j4 < TN / 4; j4++) {
      const j = [0, 1, 2, 3].map((c) => 4 * j4 + c);
      const v = quad
        ? `vec4f(${j.map((jj) => `dot(af${i}, bf${jj})`).join(", ")})`
        : `af${i} * ${bq ? `bq${j4}` : `vec4f(${j.map((jj) => `bf${jj}`).join(", ")})`}`;
      lines.push(`acc${i}_${j4} += ${v};`);
    }
  }
  return lines;
}

/** The store epilogue shared by both families: C = alpha * v + (beta != 0 ? C : 0). */
const STORE_FN = `fn store_c(idx: u32, v: f32) {
  C[idx] = u.alpha * v + select(0.0, C[idx], u.beta != 0.0);
}`;

const specs = new Map<string, KernelSpec>();

function cached(key: string, make: () => KernelSpec): KernelSpec {
  let s = specs.get(key);
  if (!s) specs.set(key, s = make());
  return s;
}

/** Blocked (register) kernel for a layout and vec4 choice per operand. */
function blockedSpec(transA: boolean, transB: boolean, vecA: boolean, vecB: boolean): KernelSpec {
  const key = `matmul_blocked_${transA ? "T" : "N"}${transB ? "T" : "N"}_${+vecA}${+vecB}`;
  return cached(key, () => {
    const a: Operand = {
      bind: "A",
      p: "a",
      t: TM,
      dim: "M",
      o0: "m0",
      kContig: !transA,
      vec: vecA,
      off: "offA",
      s: "sA",
      ld: "lda",
    };
    const b: Operand = {
      bind: "B",
      p: "b",
      t: TN,
      dim: "N",
      o0: "n0",
      kContig: transB,
      vec: vecB,
      off: "offB",
      s: "sB",
      ld: "ldb",
    };
    // Quad mode when an operand is read as vec4 along k (then K % 4 == 0, checked on the host);
    // otherwise one k per step: the same loads per multiply-add, no tail, a quarter of the code.
    const quad = (a.kContig && a.vec) || (b.kContig && b.vec);
    const body: string[] = [
      `let n0 = gid.x * ${TN}u;`,
      `let m0 = gid.y * ${TM}u;`,
      "let bi = gid.z;",
      "if (m0 >= u.M || n0 >= u.N) { return; }",
      ...setup(a),
      ...setup(b),
    ];
    for (let i = 0; i < TM; i++) {
      for (let j4 = 0; j4 < TN / 4; j4++) body.push(`var acc${i}_${j4} = vec4f(0.0);`);
    }
    if (quad) {
      body.push(
        "for (var k4 = 0u; k4 < u.K / 4u; k4++) {",
        "let k = k4 * 4u;",
        ...loadQuad(a),
        ...loadQuad(b),
        ...accumulate(true, false),
        "}",
      );
    } else {
      body.push(
        "for (var k = 0u; k < u.K; k++) {",
        ...loadStep(a),
        ...loadStep(b),
        ...accumulate(false, !b.kContig && b.vec),
        "}",
      );
    }
    body.push("let cbase = u.offC + bi * u.sC;");
    for (let i = 0; i < TM; i++) {
      body.push(`if (m0 + ${i}u < u.M) {`, `let cr = cbase + (m0 + ${i}u) * u.ldc + n0;`);
      for (let j = 0; j < TN; j++) {
        body.push(`if (n0 + ${j}u < u.N) { store_c(cr + ${j}u, acc${i}_${j >> 2}[${j & 3}]); }`);
      }
      body.push("}");
    }
    return {
      name: key,
      bindings: [
        { name: "A", type: vecA ? "vec4<f32>" : "f32" },
        { name: "B", type: vecB ? "vec4<f32>" : "f32" },
        { name: "C", type: "f32", write: true },
      ],
      uniforms: UNIFORMS,
      workgroupSize: [BWG, BWG],
      prelude: STORE_FN,
      body: body.join("\n  "),
    };
  });
}

/** Shared-memory tiled kernel for a layout (scalar loads, coalesced along the contiguous axis). */
function tiledSpec(transA: boolean, transB: boolean): KernelSpec {
  const key = `matmul_tiled_${transA ? "T" : "N"}${transB ? "T" : "N"}`;
  return cached(key, () => {
    const per = (TS * BK) / (TWG * TWG);
    // Tile element t -> (outer, kk), consecutive t along the operand's contiguous axis.
    const tileA = transA
      ? `let kk = t / ${TS}u; let mm = t % ${TS}u;`
      : `let mm = t / ${BK}u; let kk = t % ${BK}u;`;
    const idxA = transA ? "gk * u.lda + gm" : "gm * u.lda + gk";
    const tileB = transB
      ? `let nn = t / ${BK}u; let kk = t % ${BK}u;`
      : `let kk = t / ${TS}u; let nn = t % ${TS}u;`;
    const idxB = transB ? "gn * u.ldb + gk" : "gk * u.ldb + gn";
    const R = TS / TWG;
    const body = `let n0 = wid.x * ${TS}u;
  let m0 = wid.y * ${TS}u;
  let bi = wid.z;
  let abase = u.offA + bi * u.sA;
  let bbase = u.offB + bi * u.sB;
  var acc: array<array<f32, ${R}>, ${R}>;
  for (var k0 = 0u; k0 < u.K; k0 += ${BK}u) {
    for (var r = 0u; r < ${per}u; r++) {
      let t = lidx + r * ${TWG * TWG}u;
      {
        ${tileA}
        let gm = m0 + mm; let gk = k0 + kk;
        var v = 0.0;
        if (gm < u.M && gk < u.K) { v = A[abase + ${idxA}]; }
        As[kk * ${TS}u + mm] = v;
      }
      {
        ${tileB}
        let gn = n0 + nn; let gk = k0 + kk;
        var v = 0.0;
        if (gn < u.N && gk < u.K) { v = B[bbase + ${idxB}]; }
        Bs[kk * ${TS}u + nn] = v;
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      var av: array<f32, ${R}>;
      for (var i = 0u; i < ${R}u; i++) { av[i] = As[kk * ${TS}u + lid.y + i * ${TWG}u]; }
      for (var j = 0u; j < ${R}u; j++) {
        let bv = Bs[kk * ${TS}u + lid.x + j * ${TWG}u];
        for (var i = 0u; i < ${R}u; i++) { acc[i][j] += av[i] * bv; }
      }
    }
    workgroupBarrier();
  }
  let cbase = u.offC + bi * u.sC;
  for (var i = 0u; i < ${R}u; i++) {
    let m = m0 + lid.y + i * ${TWG}u;
    if (m >= u.M) { continue; }
    for (var j = 0u; j < ${R}u; j++) {
      let n = n0 + lid.x + j * ${TWG}u;
      if (n < u.N) { store_c(cbase + m * u.ldc + n, acc[i][j]); }
    }
  }`;
    return {
      name: key,
      bindings: [
        { name: "A", type: "f32" },
        { name: "B", type: "f32" },
        { name: "C", type: "f32", write: true },
      ],
      uniforms: UNIFORMS,
      workgroupSize: [TWG, TWG],
      prelude: `var<workgroup> As: array<f32, ${TS * BK}>;
var<workgroup> Bs: array<f32, ${TS * BK}>;
${STORE_FN}`,
      body,
    };
  });
}

/** Chunk sizes along batch, m, n, k. */
interface Chunks {
  bb: number;
  bm: number;
  bn: number;
  bk: number;
}

/** Half of `x`, rounded up to a multiple of 4 (64 when large, to keep kernel blocks whole). */
function halve(x: number): number {
  const h = Math.ceil(x / 2);
  const q = h > 256 ? 64 : 4;
  return Math.ceil(h / q) * q;
}

/**
 * Chunk sizes such that each chunk's A, B and C element ranges fit in `limit` elements. Chunk
 * sizes along m, n, k are multiples of 4 (vec4 alignment) unless they cover the whole dimension.
 */
function planChunks(
  M: number,
  N: number,
  K: number,
  batch: number,
  transA: boolean,
  transB: boolean,
  sA: number,
  sB: number,
  sC: number,
  limit: number,
  gridM: number,
  gridN: number,
): Chunks {
  const c: Chunks = {
    bb: Math.min(batch, 65535),
    bm: Math.min(M, gridM),
    bn: Math.min(N, gridN),
    bk: K,
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

function checkDim(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) {
    throw new Error(`matmul: ${name} must be an integer >= ${min}, got ${v}`);
  }
}

/**
 * C = alpha * op(A) @ op(B) + beta * C, batched: for each b < batch, the matrices start at element
 * b * strideX of their tensor. op(A) is [M,K], op(B) is [K,N], all f32, row-major.
 * @param enc the encoder
 * @param C [batch, M, N] output (or strided by `strideC`); must not alias A or B
 * @param A [batch, M, K], or [batch, K, M] with `transA` (e.g. x [N,C] in a Linear)
 * @param B [batch, K, N], or [batch, N, K] with `transB` (e.g. W [out,in] in y = x W^T)
 * @param M rows of C
 * @param N columns of C
 * @param K the contracted dimension
 * @param opts layout, scaling, batching, chunking and kernel options
 */
export function matmul(
  enc: Encoder,
  C: Tensor,
  A: Tensor,
  B: Tensor,
  M: number,
  N: number,
  K: number,
  opts: MatmulOptions = {},
): void {
  const transA = opts.transA ?? false, transB = opts.transB ?? false;
  const alpha = opts.alpha ?? 1, beta = opts.beta ?? 0, batch = opts.batch ?? 1;
  checkDim("M", M, 1);
  checkDim("N", N, 1);
  checkDim("K", K, 1);
  checkDim("batch", batch, 1);
  if (beta !== 0 && beta !== 1) throw new Error(`matmul: beta must be 0 or 1, got ${beta}`);
  for (const t of [A, B, C]) {
    if (t.dtype !== "f32") throw new Error(`matmul: only f32 is supported, got ${t}`);
  }
  if (C === A || C === B) throw new Error("matmul: C must not alias A or B");
  const sA = opts.strideA ?? M * K, sB = opts.strideB ?? K * N, sC = opts.strideC ?? M * N;
  checkDim("strideA", sA, 0);
  checkDim("strideB", sB, 0);
  checkDim("strideC", sC, 0);
  if (batch > 1 && sC < M * N) {
    throw new Error(`matmul: strideC ${sC} < M*N = ${M * N} would overlap outputs of the batch`);
  }
  for (
    const [t, s, n, name] of [[A, sA, M * K, "A"], [B, sB, K * N, "B"], [
      C,
      sC,
      M * N,
      "C",
    ]] as const
  ) {
    const need = (batch - 1) * s + n;
    if (t.size < need) {
      throw new Error(`matmul: ${name} ${t} has ${t.size} elements, needs ${need}`);
    }
  }
  const variant = opts.variant ?? "auto";
  if (variant !== "auto" && variant !== "blocked" && variant !== "tiled") {
    throw new Error(`matmul: unknown variant '${variant}'`);
  }
  const gpu = enc.gpu;
  if (!gpu) return;
  const blocked = variant === "blocked" || (variant === "auto" && gpu.isSoftware);
  // vec4 reads need the vector axis, the batch stride and every chunk origin to be multiples of 4.
  const vecA = blocked && (transA ? M % 4 === 0 : K % 4 === 0) && (batch === 1 || sA % 4 === 0);
  const vecB = blocked && (transB ? K % 4 === 0 : N % 4 === 0) && (batch === 1 || sB % 4 === 0);
  const spec = blocked ? blockedSpec(transA, transB, vecA, vecB) : tiledSpec(transA, transB);
  const perM = blocked ? BWG * TM : TS, perN = blocked ? BWG * TN : TS;
  const alignEl = Math.max(4, gpu.storageAlign / 4);
  const maxBytes = Math.min(opts.maxBindingBytes ?? gpu.maxBinding, gpu.maxBinding);
  const limit = Math.floor(maxBytes / 4) - alignEl - 4;
  if (limit < 64) throw new Error(`matmul: maxBindingBytes ${maxBytes} is too small`);
  const ch = planChunks(
    M,
    N,
    K,
    batch,
    transA,
    transB,
    sA,
    sB,
    sC,
    limit,
    65535 * perM,
    65535 * perN,
  );

  // Bind elements [s, e) of t: offset aligned down, size rounded up to whole vec4s.
  const range = (t: Tensor, s: number, e: number): [TensorRange, number] => {
    const base = Math.floor(s / alignEl) * alignEl;
    const end = Math.min(Math.ceil(e / 4) * 4, Math.floor(t.gpu.size / 4));
    return [{ tensor: t, offset: base * 4, size: (end - base) * 4 }, s - base];
  };
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
          const [ra, offA] = transA
            ? range(A, b0 * sA + k0 * M + m0, (b0 + last) * sA + (k0 + kc - 1) * M + m0 + mc)
            : range(A, b0 * sA + m0 * K + k0, (b0 + last) * sA + (m0 + mc - 1) * K + k0 + kc);
          const [rb, offB] = transB
            ? range(B, b0 * sB + n0 * K + k0, (b0 + last) * sB + (n0 + nc - 1) * K + k0 + kc)
            : range(B, b0 * sB + k0 * N + n0, (b0 + last) * sB + (k0 + kc - 1) * N + n0 + nc);
          const [rc, offC] = range(
            C,
            b0 * sC + m0 * N + n0,
            (b0 + last) * sC + (m0 + mc - 1) * N + n0 + nc,
          );
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

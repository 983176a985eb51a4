/**
 * Matrix multiply: C = alpha * op(A) @ op(B) + beta * C, f32, batched, any layout (NN, NT, TN, TT),
 * any M, N, K >= 1. Three kernel families behind one function:
 * - `blocked` (software adapter): each invocation computes a 16x16 block in registers, reading
 *   both operands with vec4 loads where the layout allows (along k, or along m / n), scalar loads
 *   otherwise. With an operand read along k (K % 4 == 0) it steps 4 k at a time with `dot()` of
 *   vec4 pairs; otherwise one k per step with vec4 multiply-adds (no tail, no masking).
 *   On llvmpipe every storage-buffer load is a per-lane loop (Mesa 22.3), so the time is set by
 *   the loads per multiply-add, i.e. by the block size: 4x4 1.2, 8x8 2.2, 16x16 4.2, 32x32 7.7
 *   GFLOP/s at 1024^3 on a 2-core AVX2 host; 16x16 keeps the cold compile near 3 s per kernel
 *   (32x16 takes 12 s, 32x32 45 s).
 * - `texture` (software adapter, chosen by `auto` there): op(A) [M,K] and op(B)^T [N,K] are packed
 *   k-contiguous into the encoder's two scratch rgba32float textures (`Encoder.scratchTexture`;
 *   zero-padded to 4 in k and to the block in m / n) by a buffer-to-texture copy where the layout
 *   already matches (k contiguous, K % 4 == 0) or a small packing kernel otherwise, then one NT
 *   kernel reads both through read-only storage textures (a texel load is vectorised on
 *   llvmpipe, a storage-buffer load is not) with 32x16 outputs per invocation (8x4 workgroups)
 *   and writes C. 36-38 GFLOP/s at 1024^3 NT including the packing (blocked: 4.2); ~4 s cold
 *   compile per kernel (32x32 would take 11 s). Chunked over batch, m, n (or k, for LM-head
 *   shapes) to keep each packed operand within `maxScratchBytes` and the textures within
 *   maxTextureDimension2D.
 * - `tiled` (real GPUs): 64x64 shared-memory tiles, 16x16 invocations with 4x4 outputs each.
 * Operands larger than one storage binding are split into chunks (over batch, m, n or k, whichever
 * shrinks the operand) bound through TensorRange; a k split accumulates into C with beta 1.
 * Ops never allocate: A, B, C are the caller's.
 * @module
 */
import type { Encoder, TensorRange } from "../encoder.ts";
import { hasReadOnlyStorageTextures, type KernelSpec } from "../kernel.ts";
import type { Tensor } from "../tensor.ts";

/**
 * Kernel family: `auto` picks `texture` on a software adapter (`blocked` there for tiny products,
 * see `textureWorthwhile`) and `tiled` on other adapters.
 */
export type MatmulVariant = "auto" | "blocked" | "tiled" | "texture";

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
  /**
   * Texture variant: most packed bytes of each operand (default 16 MiB); larger products are
   * chunked over batch, m, n or k. The encoder's two scratch textures only grow, each side to the
   * largest asked for (rounded up to a size class), so they can hold more than 2x this: 39 MiB
   * after a bert-base step (B=4, T=128, V=30522) at the default. Tests lower it to force chunking.
   */
  maxScratchBytes?: number;
  /**
   * Texture variant: widest texture line in texels (default maxTextureDimension2D, at most 8192);
   * k beyond 4x this is chunked. Tests lower it to force wrapped lines and k chunks.
   */
  maxTextureWidth?: number;
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

/** Texture kernel: outputs per invocation along m and n, workgroup (x along n). */
const XM = 32, XN = 16, XWG_X = 8, XWG_Y = 4;
/** Texture variant: default bytes of each packed operand. */
const SCRATCH_BYTES = 16 << 20;

/**
 * How a pack kernel reads its operand: `s` scalar loads (any layout); `k4` one vec4 along k per
 * texel (k contiguous: ldk 1, K, ldr, off and sX multiples of 4); `r4` four vec4 along rows per
 * four texels (rows contiguous: ldr 1, R, ldk, off and sX multiples of 4).
 */
type PackMode = "s" | "k4" | "r4";

/**
 * Packs rows of op(X) (A, or B^T) into an rgba32float texture, k-contiguous: packed row
 * r = item * Rp + row (item = gid.z) holds X[off + item * sX + row * ldr + k * ldk] for k < K as
 * P texels, zero-filled past K and in the padding rows R <= row < Rp. Rows go 2^sh to a texture
 * line: row r starts at texel ((r & (2^sh - 1)) * P, r >> sh) (a power of two: integer division
 * is scalarised per lane on llvmpipe and cost more than the packing itself). Uniforms are in
 * elements; the vec4 modes divide them by 4 themselves.
 */
function packSpec(mode: PackMode): KernelSpec {
  const name = `matmul_pack_${mode}`;
  const at = (r: string, k4: string) =>
    `vec2u(((${r}) & ((1u << u.sh) - 1u)) * u.P + ${k4}, (${r}) >> u.sh)`;
  const head = `let k4 = gid.x;
  let row = gid.y${mode === "r4" ? " * 4u" : ""};
  if (k4 >= u.P || row >= u.Rp) { return; }
  let r = gid.z * u.Rp + row;
  let base = u.off + gid.z * u.sX + row * u.ldr;
  let k = k4 * 4u;`;
  let body: string;
  if (mode === "s") {
    body = `${head}
  var v = vec4f(0.0);
  if (row < u.R) {
    v.x = X[base + k * u.ldk];
    if (k + 1u < u.K) { v.y = X[base + (k + 1u) * u.ldk]; }
    if (k + 2u < u.K) { v.z = X[base + (k + 2u) * u.ldk]; }
    if (k + 3u < u.K) { v.w = X[base + (k + 3u) * u.ldk]; }
  }
  textureStore(T, ${at("r", "k4")}, v);`;
  } else if (mode === "k4") {
    body = `${head}
  var v = vec4f(0.0);
  if (row < u.R) { v = X[base / 4u + k4]; }
  textureStore(T, ${at("r", "k4")}, v);`;
  } else {
    // Rows r..r+3 (one batch item: Rp and R are multiples of 4) at k..k+3: q_c holds k + c.
    body = `${head}
  var q0 = vec4f(0.0); var q1 = vec4f(0.0); var q2 = vec4f(0.0); var q3 = vec4f(0.0);
  if (row < u.R) {
    let b4 = base / 4u; let l4 = u.ldk / 4u;
    q0 = X[b4 + k * l4];
    if (k + 1u < u.K) { q1 = X[b4 + (k + 1u) * l4]; }
    if (k + 2u < u.K) { q2 = X[b4 + (k + 2u) * l4]; }
    if (k + 3u < u.K) { q3 = X[b4 + (k + 3u) * l4]; }
  }
  textureStore(T, ${at("r", "k4")}, vec4f(q0.x, q1.x, q2.x, q3.x));
  textureStore(T, ${at("r + 1u", "k4")}, vec4f(q0.y, q1.y, q2.y, q3.y));
  textureStore(T, ${at("r + 2u", "k4")}, vec4f(q0.z, q1.z, q2.z, q3.z));
  textureStore(T, ${at("r + 3u", "k4")}, vec4f(q0.w, q1.w, q2.w, q3.w));`;
  }
  return cached(name, () => ({
    name,
    bindings: [{ name: "X", type: mode === "s" ? "f32" : "vec4<f32>" }],
    textures: [{ name: "T", access: "write" }],
    uniforms: [
      ["R", "u32"],
      ["Rp", "u32"],
      ["K", "u32"],
      ["P", "u32"],
      ["sh", "u32"],
      ["off", "u32"],
      ["sX", "u32"],
      ["ldr", "u32"],
      ["ldk", "u32"],
    ],
    workgroupSize: [8, 8],
    body,
  }));
}

/**
 * The texture kernel: C[m, n] = alpha * sum_k op(A)[m, k] op(B)[k, n] (+ C when beta is 1) over
 * packed textures, XM x XN outputs per invocation. Each operand is packed one of two ways:
 * - "k-rows" (NT: op(A) rows, op(B)^T rows): packed row r holds k as P texels of 4 k each; the
 *   block's rows of batch item b start at packed row b * sAr (A) or b * sBr (B, 0 when one B
 *   serves every item); C[m, n] += dot(A texel, B texel) per k4;
 * - "natural" (natA: A stored [K, M], i.e. op(A) = A^T; natB: B stored [K, N]): packed row r = k
 *   holds the row of m (n) as PA (PB) texels of 4 m (n) each, the rows of item b from b * sAr
 *   (b * sBr); per k4 the kernel reads 4 rows. Such operands pack by a plain copy (no transpose).
 * Loads per k4 are XM + XN texels in every layout. One kernel per beta: a runtime branch on beta
 * around the 512 guarded stores compiles 4x slower (18 s cold), and loading C unconditionally
 * (select) costs ~7% at 1024^3.
 */
function textureSpec(
  access: "read" | "sampled",
  beta: 0 | 1,
  vecC: boolean,
  natA = false,
  natB = false,
): KernelSpec {
  const lay = natA || natB ? `_${natA ? "t" : "n"}${natB ? "n" : "t"}` : "";
  const name = `matmul_texture_${access}_b${beta}${vecC ? "_c4" : ""}${lay}`;
  return cached(name, () => {
    const load = (t: string, x: string, y: string) =>
      access === "read"
        ? `textureLoad(${t}, vec2u(${x}, ${y}))`
        : `textureLoad(${t}, vec2u(${x}, ${y}), 0)`;
    const xyzw = "xyzw";
    const body: string[] = [
      `let n0 = gid.x * ${XN}u;`,
      `let m0 = gid.y * ${XM}u;`,
      "let bi = gid.z;",
      "if (m0 >= u.Mp || n0 >= u.Np) { return; }",
      "let ra = bi * u.sAr;",
      "let rb = bi * u.sBr;",
      "let maskA = (1u << u.shA) - 1u;",
      "let maskB = (1u << u.shB) - 1u;",
    ];
    if (!natA) {
      for (let i = 0; i < XM; i++) {
        body.push(
          `let ax${i} = ((ra + m0 + ${i}u) & maskA) * u.PA;`,
          `let ay${i} = (ra + m0 + ${i}u) >> u.shA;`,
        );
      }
    }
    if (!natB) {
      for (let j = 0; j < XN; j++) {
        body.push(
          `let bx${j} = ((rb + n0 + ${j}u) & maskB) * u.PB;`,
          `let by${j} = (rb + n0 + ${j}u) >> u.shB;`,
        );
      }
    }
    for (let i = 0; i < XM; i++) for (let j = 0; j < XN; j++) body.push(`var c${i}_${j} = 0.0;`);
    body.push("for (var k4 = 0u; k4 < u.P; k4++) {");
    // Natural operands: rows 4 k4 + kk; texel i4 of row kk holds m (n) = 4 i4 .. 4 i4 + 3.
    const natural = (T: string, r0: string, mask: string, sh: string, P: string, at: string) => {
      for (let kk = 0; kk < 4; kk++) {
        body.push(`let ${T}r${kk} = ${r0} + 4u * k4 + ${kk}u;`);
        body.push(`let ${T}x${kk} = (${T}r${kk} & ${mask}) * u.${P} + ${at} / 4u;`);
        body.push(`let ${T}y${kk} = ${T}r${kk} >> u.${sh};`);
        const count = T === "a" ? XM / 4 : XN / 4;
        for (let q = 0; q < count; q++) {
          body.push(
            `let ${T}${kk}_${q} = ${load(T.toUpperCase(), `${T}x${kk} + ${q}u`, `${T}y${kk}`)};`,
          );
        }
      }
    };
    if (natA) natural("a", "ra", "maskA", "shA", "PA", "m0");
    else {
      for (let i = 0; i < XM; i++) {
        body.push(`let a${i} = ${load("A", `ax${i} + k4`, `ay${i}`)};`);
      }
    }
    if (natB) natural("b", "rb", "maskB", "shB", "PB", "n0");
    else {
      for (let j = 0; j < XN; j++) {
        body.push(`let b${j} = ${load("B", `bx${j} + k4`, `by${j}`)};`);
      }
    }
    // op(A)[m0 + i, 4 k4 + kk] and op(B)[4 k4 + kk, n0 + j].
    const aAt = (i: number, kk: number) =>
      natA ? `a${kk}_${i >> 2}.${xyzw[i & 3]}` : `a${i}.${xyzw[kk]}`;
    const bAt = (j: number, kk: number) =>
      natB ? `b${kk}_${j >> 2}.${xyzw[j & 3]}` : `b${j}.${xyzw[kk]}`;
    for (let i = 0; i < XM; i++) {
      for (let j = 0; j < XN; j++) {
        if (!natA && !natB) body.push(`c${i}_${j} += dot(a${i}, b${j});`);
        else {
          const terms = [0, 1, 2, 3].map((kk) => `${aAt(i, kk)} * ${bAt(j, kk)}`).join(" + ");
          body.push(`c${i}_${j} += ${terms};`);
        }
      }
    }
    body.push("}", "let cbase = u.offC + bi * u.sC;");
    if (vecC) {
      // C as vec4 (N, ldc, offC, sC multiples of 4 and n0 % 16 == 0: a group of 4 columns is
      // all in or all out): 4 guarded vec4 stores (+ loads) per row.
      body.push("let cb4 = cbase / 4u;");
      for (let i = 0; i < XM; i++) {
        body.push(`if (m0 + ${i}u < u.M) {`, `let cr = cb4 + ((m0 + ${i}u) * u.ldc + n0) / 4u;`);
        for (let g = 0; g < XN / 4; g++) {
          const c = [0, 1, 2, 3].map((q) => `c${i}_${4 * g + q}`).join(", ");
          const v = `u.alpha * vec4f(${c})${beta ? ` + C[cr + ${g}u]` : ""}`;
          body.push(`if (n0 + ${4 * g}u < u.N) { C[cr + ${g}u] = ${v}; }`);
        }
        body.push("}");
      }
    } else if (!beta) {
      for (let i = 0; i < XM; i++) {
        body.push(`if (m0 + ${i}u < u.M) {`, `let cr = cbase + (m0 + ${i}u) * u.ldc + n0;`);
        for (let j = 0; j < XN; j++) {
          body.push(`if (n0 + ${j}u < u.N) { C[cr + ${j}u] = u.alpha * c${i}_${j}; }`);
        }
        body.push("}");
      }
    } else {
      // Scalar C with beta 1: unrolled guarded load + store per element compiles in ~10 s, so a
      // loop per row over the columns in range (dynamic indexing: a slower epilogue, only for
      // unaligned C).
      body.push(`let nn = min(${XN}u, u.N - min(n0, u.N));`);
      for (let i = 0; i < XM; i++) {
        const row = Array.from({ length: XN }, (_, j) => `c${i}_${j}`).join(", ");
        body.push(
          `if (m0 + ${i}u < u.M) {`,
          `let cr = cbase + (m0 + ${i}u) * u.ldc + n0;`,
          `let row = array<f32, ${XN}>(${row});`,
          "for (var j = 0u; j < nn; j++) { C[cr + j] = u.alpha * row[j] + C[cr + j]; }",
          "}",
        );
      }
    }
    return {
      name,
      bindings: [{ name: "C", type: vecC ? "vec4<f32>" : "f32", write: true }],
      textures: [{ name: "A", access }, { name: "B", access }],
      uniforms: [
        ["M", "u32"],
        ["N", "u32"],
        ["Mp", "u32"],
        ["Np", "u32"],
        ["P", "u32"],
        ["PA", "u32"],
        ["PB", "u32"],
        ["shA", "u32"],
        ["shB", "u32"],
        ["sAr", "u32"],
        ["sBr", "u32"],
        ["ldc", "u32"],
        ["offC", "u32"],
        ["sC", "u32"],
        ["alpha", "f32"],
      ],
      workgroupSize: [XWG_X, XWG_Y],
      body: body.join("\n  "),
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
  bk = K,
): Chunks {
  const c: Chunks = {
    bb: Math.min(batch, 65535),
    bm: Math.min(M, gridM),
    bn: Math.min(N, gridN),
    bk,
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
  if (
    variant !== "auto" && variant !== "blocked" && variant !== "tiled" && variant !== "texture"
  ) {
    throw new Error(`matmul: unknown variant '${variant}'`);
  }
  const gpu = enc.gpu;
  if (!gpu) return;
  const alignEl = Math.max(4, gpu.storageAlign / 4);
  const maxBytes = Math.min(opts.maxBindingBytes ?? gpu.maxBinding, gpu.maxBinding);
  const limit = Math.floor(maxBytes / 4) - alignEl - 4;
  if (limit < 64) throw new Error(`matmul: maxBindingBytes ${maxBytes} is too small`);
  // Bind elements [s, e) of t: offset aligned down, size rounded up to whole vec4s.
  const range = (t: Tensor, s: number, e: number): [TensorRange, number] => {
    const base = Math.floor(s / alignEl) * alignEl;
    const end = Math.min(Math.ceil(e / 4) * 4, Math.floor(t.gpu.size / 4));
    return [{ tensor: t, offset: base * 4, size: (end - base) * 4 }, s - base];
  };
  if (
    variant === "texture" ||
    (variant === "auto" && gpu.isSoftware && textureWorthwhile(M, N, K, batch))
  ) {
    matmulTexture(enc, C, A, B, M, N, K, {
      transA,
      transB,
      alpha,
      beta,
      batch,
      sA,
      sB,
      sC,
      limit,
      range,
      maxScratchBytes: opts.maxScratchBytes ?? SCRATCH_BYTES,
      maxTextureWidth: opts.maxTextureWidth ?? Infinity,
    });
    return;
  }
  const blocked = variant === "blocked" || (variant === "auto" && gpu.isSoftware);
  // vec4 reads need the vector axis, the batch stride and every chunk origin to be multiples of 4.
  const vecA = blocked && (transA ? M % 4 === 0 : K % 4 === 0) && (batch === 1 || sA % 4 === 0);
  const vecB = blocked && (transB ? K % 4 === 0 : N % 4 === 0) && (batch === 1 || sB % 4 === 0);
  const spec = blocked ? blockedSpec(transA, transB, vecA, vecB) : tiledSpec(transA, transB);
  const perM = blocked ? BWG * TM : TS, perN = blocked ? BWG * TN : TS;
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

/**
 * Whether `auto` takes the texture variant on the software adapter. Measured on llvmpipe
 * (2 cores): the texture path was faster at every training shape tried, down to 32^3 (0.09 vs
 * 0.14 ms) and 64x16x64 x 32 batched; below 32^3 both are dispatch overhead, and blocked needs
 * no pass break or scratch.
 */
export function textureWorthwhile(M: number, N: number, K: number, batch: number): boolean {
  return M * N * K * batch >= 32 ** 3;
}

/** What the texture path needs from `matmul`, validated there. */
interface TextureArgs {
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
  batch: number;
  sA: number;
  sB: number;
  sC: number;
  /** Elements per storage binding. */
  limit: number;
  range: (t: Tensor, s: number, e: number) => [TensorRange, number];
  maxScratchBytes: number;
  maxTextureWidth: number;
}

/**
 * The texture path: per chunk, pack op(A) [M,K] and op(B)^T [N,K] into the encoder's scratch
 * textures (k-contiguous, zero-padded to 4 in k and to the block in m / n), then one NT texture
 * kernel writes C. Chunks keep each packed operand within maxScratchBytes and the texture
 * within maxTextureDimension2D (over batch, m, n, and k beyond 4 * width texels), and each
 * buffer binding within the storage-binding limit.
 */
function matmulTexture(
  enc: Encoder,
  C: Tensor,
  A: Tensor,
  B: Tensor,
  M: number,
  N: number,
  K: number,
  t: TextureArgs,
): void {
  const gpu = enc.gpu!;
  const { transA, transB, alpha, beta, batch, sA, sB, sC, range } = t;
  const H = gpu.device.limits.maxTextureDimension2D;
  const budget = Math.floor(t.maxScratchBytes / 16);
  const W = Math.max(1, Math.min(8192, H, Math.floor(t.maxTextureWidth), budget));
  const capTexels = Math.min(W * H, budget);
  // Rows per texture line: a power of two (shifts, not divisions, in the kernels).
  const shOf = (width: number, P: number) => {
    let sh = 0;
    while ((2 << sh) * P <= width) sh++;
    return sh;
  };
  const rplOf = (P: number) => 2 ** shOf(W, P);
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
    t.limit,
    capM,
    capN,
    Math.min(K, 4 * P0),
  );
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
  // An operand whose rows run along m (A stored [K, M]) or n (B stored [K, N]) is packed in its
  // natural layout, one texture row per k (see textureSpec), when those rows are vec4-aligned and
  // its largest chunk fits the texture in no more texels than the k-rows layout would take (give
  // or take the last, partial line).
  const KpMax = Math.ceil(ch.bk / 4) * 4;
  const naturalGeometry = (len: number, items: number, kRowsTexels: number) => {
    const Pn = Math.ceil(len / 4);
    if (Pn > W) return null;
    const rpl = rplOf(Pn), lines = Math.ceil((items * KpMax) / rpl);
    return lines <= H && rpl * Pn * (lines - 1) <= Math.max(kRowsTexels, capTexels)
      ? { rpl, lines, Pn }
      : null;
  };
  const aligned = (len: number, s: number) => len % 4 === 0 && (batch === 1 || s % 4 === 0);
  const kRowsA = rplMax * Pmax * Math.ceil((ch.bb * MpMax) / rplMax);
  const kRowsB = rplMax * Pmax * Math.ceil((itemsB * NpMax) / rplMax);
  const natA = transA && aligned(M, sA) ? naturalGeometry(ch.bm, ch.bb, kRowsA) : null;
  const natB = !transB && aligned(N, sB) ? naturalGeometry(ch.bn, itemsB, kRowsB) : null;
  const texA = natA
    ? enc.scratchTexture("matmul.A", natA.rpl * natA.Pn, natA.lines)!
    : enc.scratchTexture("matmul.A", rplMax * Pmax, Math.ceil((ch.bb * MpMax) / rplMax))!;
  const texB = natB
    ? enc.scratchTexture("matmul.B", natB.rpl * natB.Pn, natB.lines)!
    : enc.scratchTexture("matmul.B", rplMax * Pmax, Math.ceil((itemsB * NpMax) / rplMax))!;
  const access = hasReadOnlyStorageTextures() ? "read" : "sampled";
  // op(A)[m, k] = A[m * ldr + k * ldk]; op(B)^T[n, k] likewise.
  const [ldrA, ldkA] = transA ? [1, M] : [K, 1];
  const [ldrB, ldkB] = transB ? [K, 1] : [1, N];
  // vec4 packing: along k when k is contiguous, along rows when rows are; every chunk origin is
  // then a multiple of 4 too (chunk sizes are, or cover the whole dimension). Natural operands
  // are vec4 along their rows (m or n).
  const mode = (kContig: boolean, rows: number, s: number): PackMode =>
    (kContig ? K : rows) % 4 !== 0 || (batch > 1 && s % 4 !== 0) ? "s" : kContig ? "k4" : "r4";
  const packA = packSpec(natA ? "k4" : mode(!transA, M, sA));
  const packB = packSpec(natB ? "k4" : mode(transB, N, sB));
  /**
   * Packing of one operand chunk: rows [first + item * sX + row * ldr + k * ldk] for item < nb,
   * row < R, k < kc into packed rows item * Rp + row (natural operands: "row" is k and "k" runs
   * along m or n, rows of `full` elements). A copy when those rows are already laid out
   * as the texture lines want them (k contiguous and whole, items back to back without padding
   * rows, 256-byte line pitch): lavapipe copies 4 MiB in ~0.5 ms where a packing kernel takes
   * ~5 ms (its storage-buffer loads). Otherwise the packing kernel. Returns the job's steps: the
   * copies, or a kernel to run after them.
   */
  interface PackSteps {
    copy?: () => void;
    after?: () => void;
  }
  const packJob = (
    X: Tensor,
    tex: GPUTexture,
    spec: KernelSpec,
    first: number,
    R: number,
    Rp: number,
    nb: number,
    sX: number,
    ldr: number,
    ldk: number,
    kc: number,
    P: number,
    sh: number,
    full = K,
    natural = false,
  ): PackSteps => {
    const rpl = 2 ** sh;
    const rows = nb * R, pitch = rpl * kc * 4;
    // Natural operands' padding rows are k rows: they must be zero, so a copy needs none.
    if (
      ldk === 1 && kc === full && full % 4 === 0 && first % 4 === 0 &&
      (nb === 1 || (sX === R * full && Rp === R)) && (!natural || Rp === R) &&
      (rows <= rpl || pitch % 256 === 0)
    ) {
      // Whole lines of rpl packed rows, then the partial last line.
      const lines = Math.floor(rows / rpl), rem = rows - lines * rpl;
      return {
        copy: () => {
          enc.copyToTexture(X, tex, first * 4, lines > 1 ? pitch : undefined, [0, 0], [
            rpl * P,
            lines,
          ]);
          enc.copyToTexture(X, tex, first * 4 + lines * pitch, undefined, [0, lines], [
            rem * P,
            1,
          ]);
        },
      };
    }
    const end = first + (nb - 1) * sX + (R - 1) * ldr + (kc - 1) * ldk + 1;
    const [rx, off] = range(X, first, end);
    const r4 = spec.name.endsWith("r4");
    const per = r4 ? 32 : 8;
    return {
      after: () =>
        enc.dispatch(spec, { X: rx, T: tex }, { R, Rp, K: kc, P, sh, off, sX, ldr, ldk }, [
          Math.ceil(P / 8),
          Math.ceil(Rp / per),
          nb,
        ]),
    };
  };
  // C as vec4 when every row and batch item starts on a vec4 (chunk origins along n are
  // multiples of 4; offC, from range(), then is too).
  const vecC = N % 4 === 0 && (batch === 1 || sC % 4 === 0);
  let packedA = "", packedB = "";
  for (let b0 = 0; b0 < batch; b0 += ch.bb) {
    const nb = Math.min(ch.bb, batch - b0), last = nb - 1;
    const nbB = sB > 0 ? nb : 1;
    for (let m0 = 0; m0 < M; m0 += ch.bm) {
      const mc = Math.min(ch.bm, M - m0), Mp = Math.ceil(mc / XM) * XM;
      for (let n0 = 0; n0 < N; n0 += ch.bn) {
        const nc = Math.min(ch.bn, N - n0), Np = Math.ceil(nc / XN) * XN;
        for (let k0 = 0; k0 < K; k0 += ch.bk) {
          const kc = Math.min(ch.bk, K - k0), P = Math.ceil(kc / 4), Kp = 4 * P;
          // Texels per packed row and rows per line of each operand.
          const PA = natA ? Math.ceil(mc / 4) : P, PB = natB ? Math.ceil(nc / 4) : P;
          const shA = shOf(Math.min(texA.width, W), PA);
          const shB = shOf(Math.min(texB.width, W), PB);
          // Pack what changed since the last chunk: copies first (they end the pass), then
          // packing kernels, so that a chunk breaks the pass at most once.
          const jobs: PackSteps[] = [];
          const keyA = `${b0}:${m0}:${k0}`;
          if (keyA !== packedA) {
            const first = b0 * sA + m0 * ldrA + k0 * ldkA;
            jobs.push(
              natA
                ? packJob(A, texA, packA, first, kc, Kp, nb, sA, M, 1, mc, PA, shA, M, true)
                : packJob(A, texA, packA, first, mc, Mp, nb, sA, ldrA, ldkA, kc, P, shA),
            );
            packedA = keyA;
          }
          const keyB = `${sB > 0 ? b0 : 0}:${n0}:${k0}`;
          if (keyB !== packedB) {
            const first = b0 * sB + n0 * ldrB + k0 * ldkB;
            jobs.push(
              natB
                ? packJob(B, texB, packB, first, kc, Kp, nbB, sB, N, 1, nc, PB, shB, N, true)
                : packJob(B, texB, packB, first, nc, Np, nbB, sB, ldrB, ldkB, kc, P, shB),
            );
            packedB = keyB;
          }
          for (const j of jobs) j.copy?.();
          for (const j of jobs) j.after?.();
          const [rc, offC] = range(
            C,
            b0 * sC + m0 * N + n0,
            (b0 + last) * sC + (m0 + mc - 1) * N + n0 + nc,
          );
          const kb = k0 === 0 ? beta : 1;
          const spec = textureSpec(access, kb === 0 ? 0 : 1, vecC, natA !== null, natB !== null);
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
          }, [Math.ceil(Np / (XWG_X * XN)), Math.ceil(Mp / (XWG_Y * XM)), nb]);
        }
      }
    }
  }
}

/**
 * The texture matmul kernel (the software adapter): C = alpha * op(A) op(B) (+ C when beta is 1)
 * read from the two packed scratch textures (`texture_pack.ts`: rgba32float, or rgba16float for
 * f16 operands), XM x XN = 32x16 outputs per invocation in workgroups of 8x4. A texel load is
 * vectorised on llvmpipe where a storage-buffer load is a per-lane loop, so the operands come
 * from textures and only C is a buffer (f32, f16 or bf16; quads when its rows and items start on
 * vec4s, else single elements, f32 only: 16-bit C with unaligned rows goes to the blocked kernel,
 * whose variants compile in a fraction of the time: `matmulKernelFor`).
 * @module
 */
import type { FloatDType } from "../../dtype.ts";
import type { KernelSpec, TextureFormat } from "../../kernel.ts";
import { cachedSpec } from "../../spec_cache.ts";
import { type CStore, cWidth, storeTag } from "./c_store.ts";

/** Outputs per invocation along m and n. */
const XM = 32, XN = 16;
/** Workgroup (x along n). */
const XWG_X = 8, XWG_Y = 4;

/** Rows and columns of C per invocation: packed operands are padded to these blocks. */
export const TEXTURE_BLOCK = { m: XM, n: XN } as const;
/** Rows and columns of C per workgroup. */
export const TEXTURE_PER_WORKGROUP = { m: XWG_Y * XM, n: XWG_X * XN } as const;

/** What distinguishes one texture kernel from another. */
export interface TextureVariant {
  /** How the textures are read (`hasReadOnlyStorageTextures`). */
  access: "read" | "sampled";
  /** 0 (C overwritten) or 1 (accumulate): one kernel each (see `textureSpec`). */
  beta: 0 | 1;
  /** C's storage type. */
  dC: FloatDType;
  /** How C is stored: quads, or single elements (f32 C only). */
  store: Exclude<CStore, "pair">;
  /** A packed in its natural layout (A stored [K, M]). */
  natA: boolean;
  /** B packed in its natural layout (B stored [K, N]). */
  natB: boolean;
  /** Formats of A's and B's textures. */
  formatA: TextureFormat;
  formatB: TextureFormat;
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
export function textureSpec(v: TextureVariant): KernelSpec {
  const { access, beta, dC, store, natA, natB } = v;
  const lay = natA || natB ? `_${natA ? "t" : "n"}${natB ? "n" : "t"}` : "";
  const fmt = (f: TextureFormat) => (f === "rgba16float" ? "h" : "f");
  const name = `matmul_texture_${access}_b${beta}_${fmt(v.formatA)}${fmt(v.formatB)}_${dC}_${
    storeTag(store)
  }${lay}`;
  return cachedSpec(name, () => {
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
    const cAt = (i: number, j: number) => `c${i}_${j}`;
    if (store === "quad") {
      // C as quads (N, ldc, offC, sC multiples of 4 and n0 % 16 == 0: a group of 4 columns is
      // all in or all out): 4 guarded quad stores (+ loads) per row.
      body.push("let cb4 = cbase / 4u;");
      for (let i = 0; i < XM; i++) {
        body.push(`if (m0 + ${i}u < u.M) {`, `let cr = cb4 + ((m0 + ${i}u) * u.ldc + n0) / 4u;`);
        for (let g = 0; g < XN / 4; g++) {
          const c = [0, 1, 2, 3].map((q) => cAt(i, 4 * g + q)).join(", ");
          const val = `u.alpha * vec4f(${c})${beta ? ` + C_load4(cr + ${g}u)` : ""}`;
          body.push(`if (n0 + ${4 * g}u < u.N) { C_store4(cr + ${g}u, ${val}); }`);
        }
        body.push("}");
      }
    } else if (!beta) {
      for (let i = 0; i < XM; i++) {
        body.push(`if (m0 + ${i}u < u.M) {`, `let cr = cbase + (m0 + ${i}u) * u.ldc + n0;`);
        for (let j = 0; j < XN; j++) {
          body.push(`if (n0 + ${j}u < u.N) { C_store(cr + ${j}u, u.alpha * ${cAt(i, j)}); }`);
        }
        body.push("}");
      }
    } else {
      // Scalar C with beta 1: unrolled guarded load + store per element compiles in ~10 s, so a
      // loop per row over the columns in range (dynamic indexing: a slower epilogue, only for
      // unaligned C).
      body.push(`let nn = min(${XN}u, u.N - min(n0, u.N));`);
      for (let i = 0; i < XM; i++) {
        const row = Array.from({ length: XN }, (_, j) => cAt(i, j)).join(", ");
        body.push(
          `if (m0 + ${i}u < u.M) {`,
          `let cr = cbase + (m0 + ${i}u) * u.ldc + n0;`,
          `let row = array<f32, ${XN}>(${row});`,
          "for (var j = 0u; j < nn; j++) { C_store(cr + j, u.alpha * row[j] + C_load(cr + j)); }",
          "}",
        );
      }
    }
    return {
      name,
      bindings: [{ name: "C", dtype: dC, width: cWidth(dC, store), write: true }],
      textures: [
        { name: "A", access, format: v.formatA },
        { name: "B", access, format: v.formatB },
      ],
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

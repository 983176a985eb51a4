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
 * Loads per k4 are XM + XN texels in every layout. One kernel per beta: beta 0 never reads C
 * (loading it unconditionally, with a select, cost ~7% at 1024^3).
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
    // The epilogue: the accumulators go into one private array (constant indices, so the k loop
    // keeps them in registers), then a loop over the block's rows and columns in range stores
    // C = alpha * acc (+ C with beta 1): one guarded store (and load) in the kernel instead of
    // 512 unrolled ones, which llvmpipe compiled up to 8x slower cold at no gain in speed.
    const quad = store === "quad";
    const q = quad ? 4 : 1, per = XN / q, T = quad ? "vec4f" : "f32";
    body.push(`var out: array<${T}, ${XM * per}>;`);
    for (let i = 0; i < XM; i++) {
      for (let g = 0; g < per; g++) {
        const v = quad
          ? `vec4f(${[0, 1, 2, 3].map((c) => `c${i}_${4 * g + c}`).join(", ")})`
          : `c${i}_${g}`;
        body.push(`out[${i * per + g}] = ${v};`);
      }
    }
    // C as quads (of any dtype) when N, ldc, offC and sC are multiples of 4 (n0 % 16 == 0: a
    // quad of columns is all in or all out), else single elements; through C's accessors.
    const at = quad ? "cb + ((m0 + r) * u.ldc + n0) / 4u" : "cb + (m0 + r) * u.ldc + n0";
    const [ld, st] = quad ? ["C_load4", "C_store4"] : ["C_load", "C_store"];
    body.push(
      `let cb = cbase${quad ? " / 4u" : ""};`,
      `let rows = min(${XM}u, u.M - min(m0, u.M));`,
      `let cols = min(${per}u, (u.N - min(n0, u.N) + ${q - 1}u) / ${q}u);`,
      "for (var r = 0u; r < rows; r++) {",
      `  let cr = ${at};`,
      "  for (var j = 0u; j < cols; j++) {",
      `    ${st}(cr + j, u.alpha * out[r * ${per}u + j]${beta ? ` + ${ld}(cr + j)` : ""});`,
      "  }",
      "}",
    );
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

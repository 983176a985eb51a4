/**
 * The `blocked` matmul kernel (buffers, no shared memory): each invocation computes a block of
 * tm x tn outputs of C in registers (`KernelPolicy.block`), workgroups of 8x8 (llvmpipe runs SIMD
 * lanes along x). Operands are read with vec4 loads where the layout allows (along k, or along
 * m / n), scalar loads otherwise. With an operand read as vec4 along k (K % 4 == 0) it steps 4 k
 * at a time with `dot()` of vec4 pairs ("quad" mode); otherwise one k per step with vec4
 * multiply-adds (no tail, no masking). A, B and C are f32, f16 or bf16 (loaded and stored in f32
 * through the generated accessors); 16-bit C is stored in pairs of columns (`c_store.ts`). On
 * llvmpipe the speed of large products grows with the
 * block (fewer loads per multiply-add) and so does the cold compile, steeply; the default block
 * is sized for the kernel's default role, the products too small for the texture kernel (see
 * docs/design.md).
 * @module
 */
import type { KernelSpec } from "../../kernel.ts";
import type { MatmulBlock } from "../../kernel_policy.ts";
import { cachedSpec } from "../../spec_cache.ts";
import { bufferKernel, type Dtypes, dtypeTag } from "./buffer_kernel.ts";
import { type CStore, storeTag } from "./c_store.ts";

/** Workgroup 8x8 (SIMD lanes run along x on llvmpipe). */
const BWG = 8;

/** Rows and columns of C per workgroup of a block. */
export function blockedPerWorkgroup(block: MatmulBlock): { m: number; n: number } {
  return { m: BWG * block.tm, n: BWG * block.tn };
}

/** How one operand of the blocked kernel is read. */
interface Operand {
  /** Binding name, "A" or "B". */
  bind: string;
  /** Prefix of generated variables. */
  p: string;
  /** Outputs per invocation along this operand's outer dimension (tm or tn). */
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

/** WGSL loading element (or, for a vec4 operand, quad) `idx` of the operand, in f32. */
function ld(o: Operand, idx: string): string {
  return `${o.bind}_load${o.vec ? "4" : ""}(${idx})`;
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
  const { p, t } = o;
  const lines: string[] = [];
  if (o.kContig && o.vec) {
    for (let i = 0; i < t; i++) lines.push(`let ${p}f${i} = ${ld(o, `${p}r${i} + k4`)};`);
  } else if (o.kContig) {
    for (let i = 0; i < t; i++) {
      const e = [0, 1, 2, 3].map((kk) => ld(o, `${p}r${i} + k + ${kk}u`));
      lines.push(`let ${p}f${i} = vec4f(${e.join(", ")});`);
    }
  } else {
    for (let kk = 0; kk < 4; kk++) {
      lines.push(`let ${p}k${kk} = ${p}base + (k + ${kk}u) * u.${o.ld};`);
    }
    if (o.vec) {
      for (let g = 0; g < t / 4; g++) {
        for (let kk = 0; kk < 4; kk++) {
          lines.push(`let ${p}q${kk}_${g} = ${ld(o, `${p}k${kk} + ${p}c${g}`)};`);
        }
        for (let c = 0; c < 4; c++) {
          const q = [0, 1, 2, 3].map((kk) => `${p}q${kk}_${g}[${c}]`);
          lines.push(`let ${p}f${4 * g + c} = vec4f(${q.join(", ")});`);
        }
      }
    } else {
      for (let i = 0; i < t; i++) {
        const e = [0, 1, 2, 3].map((kk) => ld(o, `${p}k${kk} + ${p}c${i}`));
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
  const { p, t } = o;
  if (o.kContig) {
    return Array.from({ length: t }, (_, i) => `let ${p}f${i} = ${ld(o, `${p}r${i} + k`)};`);
  }
  const lines = [`let ${p}k = ${p}base + k * u.${o.ld};`];
  if (o.vec) {
    for (let g = 0; g < t / 4; g++) lines.push(`let ${p}q${g} = ${ld(o, `${p}k + ${p}c${g}`)};`);
    for (let i = 0; i < t; i++) lines.push(`let ${p}f${i} = ${p}q${i >> 2}[${i & 3}];`);
  } else {
    for (let i = 0; i < t; i++) lines.push(`let ${p}f${i} = ${ld(o, `${p}k + ${p}c${i}`)};`);
  }
  return lines;
}

/**
 * Accumulate: quad mode acc{i}_{j4} += (dot(a_i, b_{4j4+c}))_c; step mode acc{i}_{j4} += a_i *
 * (b_{4j4..4j4+3}) (B's vec4 group directly when B is read as vec4 along n).
 */
function accumulate(TM: number, TN: number, quad: boolean, bq: boolean): string[] {
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

/** How a blocked kernel reads and writes: layout, vec4 per operand, storage types, C's store. */
export interface BlockedVariant extends Dtypes {
  /** A stored [K, M]. */
  transA: boolean;
  /** B stored [N, K]. */
  transB: boolean;
  /** A read as vec4. */
  vecA: boolean;
  /** B read as vec4. */
  vecB: boolean;
  /** C stored one element (`single`) or a pair of columns (`pair`, 16-bit C) at a time. */
  store: Exclude<CStore, "quad">;
}

/** Blocked (register) kernel for a variant and a block. */
export function blockedSpec(v: BlockedVariant, block: MatmulBlock): KernelSpec {
  const { transA, transB, vecA, vecB, store } = v;
  const TM = block.tm, TN = block.tn;
  const key = `matmul_blocked_${transA ? "T" : "N"}${
    transB ? "T" : "N"
  }_${+vecA}${+vecB}_${TM}x${TN}_${dtypeTag(v)}_${storeTag(store)}`;
  return cachedSpec(key, () => {
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
        ...accumulate(TM, TN, true, false),
        "}",
      );
    } else {
      body.push(
        "for (var k = 0u; k < u.K; k++) {",
        ...loadStep(a),
        ...loadStep(b),
        ...accumulate(TM, TN, false, !b.kContig && b.vec),
        "}",
      );
    }
    body.push("let cbase = u.offC + bi * u.sC;");
    const acc = (i: number, j: number) => `acc${i}_${j >> 2}[${j & 3}]`;
    for (let i = 0; i < TM; i++) {
      body.push(`if (m0 + ${i}u < u.M) {`, `let cr = cbase + (m0 + ${i}u) * u.ldc + n0;`);
      if (store === "pair") {
        // cr is even (N, offC, sC even; n0 a multiple of 4): pair j/2 holds columns j, j + 1.
        for (let j = 0; j < TN; j += 2) {
          body.push(
            `if (n0 + ${j}u < u.N) { out2((cr + ${j}u) / 2u, vec2f(${acc(i, j)}, ${
              acc(i, j + 1)
            })); }`,
          );
        }
      } else {
        for (let j = 0; j < TN; j++) {
          body.push(`if (n0 + ${j}u < u.N) { out1(cr + ${j}u, ${acc(i, j)}); }`);
        }
      }
      body.push("}");
    }
    return bufferKernel({
      name: key,
      ...v,
      workgroupSize: [BWG, BWG],
      body: body.join("\n  "),
    });
  });
}

/**
 * The `tiled` matmul kernel (real GPUs): register tiling over workgroup memory, in the style of
 * the SGEMM kernels that reach most of a GPU's f32 rate from a shading language (2D register
 * blocking, wide loads, staging through shared memory, software pipelining).
 *
 * A workgroup computes a BM x BN block of C (`KernelPolicy.tile`: m, n) with (BN / TN) x
 * (BM / TM) invocations, each accumulating TM x TN outputs in vec4 registers. Per k-slice of BK
 * (`tile.k`), the workgroup stages op(A) [BM, BK] and op(B) [BK, BN] into workgroup memory, both
 * laid out k-major with m (n) along a row of vec4 (`tileLayout`: one vec4 of padding per row), so
 * that the inner loop reads TM / 4 + TN / 4 vec4 per k and does TM x TN multiply-adds with them.
 *
 * - Outputs: invocation (tx, ty) owns rows 4 ty + 4 WY g + r (g < TM / 4, r < 4) and columns
 *   4 tx + 4 WX h + c (h < TN / 4, c < 4), WX x WY being the workgroup: neighbouring invocations
 *   read neighbouring vec4 of workgroup memory (no bank conflicts) and store neighbouring vec4 of
 *   C (coalesced).
 * - Loads: each operand is read along its contiguous axis (k for A [M, K] and B [N, K], m or n for
 *   A [K, M] and B [K, N]), consecutive invocations taking consecutive addresses; as vec4 where
 *   the tile allows (`tile.vec4`) and the layout is 4-aligned (decided on the host: `vecA`,
 *   `vecB`), else as scalars. f16 and bf16 operands are converted to f32 on the way in.
 * - Edges only: a slice lying wholly inside A (or B) — every slice but the last of a workgroup
 *   away from the bottom (right) edge — is loaded without bounds checks; only the other slices
 *   check each load (zeros past M, N or K). The decision is one uniform branch per slice and
 *   operand, not a test per inner step. Stores are unguarded for workgroups inside C.
 * - Double buffering (`tile.buffers` 2): slice t + 1 is loaded into registers before slice t is
 *   multiplied, then stored into the other half of workgroup memory: one barrier per slice, and
 *   the loads' latency hidden behind the arithmetic (one loop, no separate prologue: less code
 *   to compile). With 1 buffer: load, barrier, multiply, barrier.
 * - C is stored as quads (vec4 stores for f32) where its rows are 4-aligned, else in pairs
 *   (16-bit C) or single elements (`c_store.ts`).
 * On llvmpipe this kernel is slow (barriers switch coroutines; see docs/design.md): it is tested
 * there for correctness at small tiles, and timed on GPUs by bench/device.sh.
 * @module
 */
import type { KernelSpec } from "../../kernel.ts";
import { type MatmulTile, tileLayout, tileText } from "../../kernel_policy.ts";
import { cachedSpec } from "../../spec_cache.ts";
import { bufferKernel, type Dtypes, dtypeTag } from "./buffer_kernel.ts";
import { type CStore, storeTag } from "./c_store.ts";

/** How a tiled kernel reads and writes: layout, vec4 per operand, storage types, C's store. */
export interface TiledVariant extends Dtypes {
  /** A stored [K, M]. */
  transA: boolean;
  /** B stored [N, K]. */
  transB: boolean;
  /** A read as vec4 (the tile's vec4 and a 4-aligned contiguous axis). */
  vecA: boolean;
  /** B read as vec4. */
  vecB: boolean;
  /** How C is stored. */
  store: CStore;
}

/** One operand's staging, as the generator sees it. */
interface Staged {
  /** Binding and workgroup array: "A"/"As" or "B"/"Bs". */
  bind: string;
  arr: string;
  /** Register prefix for the pipelined loads. */
  reg: string;
  /** Outer extent of the tile (BM or BN), its origin ("m0"/"n0") and uniform ("M"/"N"). */
  outer: number;
  o0: string;
  dim: string;
  /** vec4 per row of the workgroup array (outer / 4 + padding). */
  row: number;
  /** Stored with k contiguous (A [M, K], B [N, K]). */
  kContig: boolean;
  /** Read as vec4. */
  vec: boolean;
  /** Uniforms: offset, batch stride, leading dimension. */
  off: string;
  s: string;
  ld: string;
}

/** The register-tiled kernel for a variant and a tile. */
export function tiledSpec(v: TiledVariant, tile: MatmulTile): KernelSpec {
  const layout = `${v.transA ? "T" : "N"}${v.transB ? "T" : "N"}`;
  const name = `matmul_tiled_${layout}_${+v.vecA}${+v.vecB}_${
    tileText(tile).replaceAll("/", "_")
  }_${dtypeTag(v)}_${storeTag(v.store)}`;
  return cachedSpec(name, () => build(name, v, tile));
}

function build(name: string, v: TiledVariant, t: MatmulTile): KernelSpec {
  const BM = t.m, BN = t.n, BK = t.k, TM = t.tm, TN = t.tn;
  const WX = BN / TN, WY = BM / TM, WG = WX * WY;
  const { rowA, rowB } = tileLayout(t);
  const sizeA = BK * rowA, sizeB = BK * rowB; // vec4 per buffer
  const a: Staged = {
    bind: "A",
    arr: "As",
    reg: "pa",
    outer: BM,
    o0: "m0",
    dim: "M",
    row: rowA,
    kContig: !v.transA,
    vec: v.vecA,
    off: "offA",
    s: "sA",
    ld: "lda",
  };
  const b: Staged = {
    bind: "B",
    arr: "Bs",
    reg: "pb",
    outer: BN,
    o0: "n0",
    dim: "N",
    row: rowB,
    kContig: v.transB,
    vec: v.vecB,
    off: "offB",
    s: "sB",
    ld: "ldb",
  };
  const pipelined = t.buffers === 2;

  /**
   * The staging of one operand's slice at k0 (a WGSL expression), in rounds of WG slots: `load`
   * lines read slot values into registers `${reg}${r}` (vec4f or f32), in two forms — unguarded
   * and guarded —, `store` lines write them into the workgroup array at vec4 offset `buf`.
   */
  const staging = (o: Staged) => {
    const q = o.vec ? 4 : 1; // elements per slot
    // Slots: kContig: (outer, k / q) with k fastest; else (k, outer / q) with outer fastest.
    const perRow = o.kContig ? BK / q : o.outer / q;
    const slots = o.outer * BK / q, rounds = Math.ceil(slots / WG);
    const type = o.vec ? "vec4f" : "f32";
    const load = o.vec ? `${o.bind}_load4` : `${o.bind}_load`;
    const decl: string[] = [], free: string[] = [], guarded: string[] = [], store: string[] = [];
    for (let r = 0; r < rounds; r++) {
      const reg = `${o.reg}${r}`, e = `(lidx + ${r * WG}u)`;
      const partial = (r + 1) * WG > slots; // the last round's slots past the end do nothing
      decl.push(`var ${reg}: ${type};`);
      // (outer index, k index) of the slot within the tile, and its element in the operand.
      const major = `${e} / ${perRow}u`, minor = `${e} % ${perRow}u`;
      const [oi, ki] = o.kContig ? [major, `${q}u * (${minor})`] : [`${q}u * (${minor})`, major];
      const go = `(${o.o0} + ${oi})`, gk = `(k0 + ${ki})`;
      // In units of the binding (quads for vec4): the vector axis's origin is 4-aligned.
      const base = `${o.bind.toLowerCase()}base`;
      const idx = q === 1
        ? (o.kContig
          ? `${base} + ${go} * u.${o.ld} + ${gk}`
          : `${base} + ${gk} * u.${o.ld} + ${go}`)
        : o.kContig
        ? `${base} + ${go} * u.${o.ld} + ${gk} / 4u`
        : `${base} + ${gk} * u.${o.ld} + ${go} / 4u`;
      // A vec4 slot lies wholly inside or outside the operand (its axis is 4-aligned).
      const inside = `${go} < u.${o.dim} && ${gk} < u.K`;
      const live = partial ? `${e} < ${slots}u` : "";
      const fill = o.vec ? "vec4f(0.0)" : "0.0";
      free.push(live ? `if (${live}) { ${reg} = ${load}(${idx}); }` : `${reg} = ${load}(${idx});`);
      guarded.push(
        `${reg} = ${fill};`,
        `if (${live ? `${live} && ` : ""}${inside}) { ${reg} = ${load}(${idx}); }`,
      );
      // Into the k-major array: row ki, vec4 oi / 4 (component oi % 4 for scalars).
      const st: string[] = [];
      if (o.vec && !o.kContig) {
        st.push(`${o.arr}[buf + (${ki}) * ${o.row}u + (${oi}) / 4u] = ${reg};`);
      } else if (o.vec) {
        for (let c = 0; c < 4; c++) {
          st.push(
            `${o.arr}[buf + (${ki} + ${c}u) * ${o.row}u + (${oi}) / 4u][(${oi}) % 4u] = ${reg}[${c}];`,
          );
        }
      } else st.push(`${o.arr}[buf + (${ki}) * ${o.row}u + (${oi}) / 4u][(${oi}) % 4u] = ${reg};`);
      store.push(live ? `if (${live}) { ${st.join(" ")} }` : st.join("\n    "));
    }
    return { decl, free, guarded, store };
  };
  const sa = staging(a), sb = staging(b);
  // Loads of a slice: unguarded when the slice lies inside the operand (uniform per workgroup).
  const loads = (o: Staged, s: ReturnType<typeof staging>) => [
    `if (${o.o0} + ${o.outer}u <= u.${o.dim} && k0 + ${BK}u <= u.K) {`,
    ...s.free,
    "} else {",
    ...s.guarded,
    "}",
  ];
  const stores = (s: ReturnType<typeof staging>, buf: string) => [
    "{",
    `let buf = ${buf};`,
    ...s.store,
    "}",
  ];

  // The multiply: per k, TM / 4 vec4 of A (rows 4 ty + 4 WY g .. + 3) and TN / 4 of B.
  const GM = TM / 4, GN = TN / 4;
  const acc = (i: number, h: number) => `acc${i}_${h}`;
  const multiply = (bufA: string, bufB: string) => {
    const lines = [`for (var kk = 0u; kk < ${BK}u; kk++) {`];
    lines.push(`let ia = ${bufA} + kk * ${rowA}u + ty;`, `let ib = ${bufB} + kk * ${rowB}u + tx;`);
    for (let g = 0; g < GM; g++) lines.push(`let a${g} = As[ia + ${g * WY}u];`);
    for (let h = 0; h < GN; h++) lines.push(`let b${h} = Bs[ib + ${h * WX}u];`);
    for (let i = 0; i < TM; i++) {
      for (let h = 0; h < GN; h++) {
        lines.push(`${acc(i, h)} += a${i >> 2}[${i & 3}] * b${h};`);
      }
    }
    lines.push("}");
    return lines;
  };

  const body: string[] = [
    "let tx = lid.x;",
    "let ty = lid.y;",
    `let n0 = wid.x * ${BN}u;`,
    `let m0 = wid.y * ${BM}u;`,
    "let bi = wid.z;",
    "let abase = u.offA + bi * u.sA;",
    "let bbase = u.offB + bi * u.sB;",
    ...sa.decl,
    ...sb.decl,
  ];
  for (let i = 0; i < TM; i++) {
    for (let h = 0; h < GN; h++) body.push(`var ${acc(i, h)} = vec4f(0.0);`);
  }
  body.push(`let slices = (u.K + ${BK - 1}u) / ${BK}u;`);
  if (pipelined) {
    // Step s loads slice s into registers, multiplies slice s - 1 (its buffer filled at step
    // s - 1), stores slice s into the other buffer, then one barrier: the loads are in flight
    // while the multiply runs, and no buffer is written while it is read.
    body.push(
      "for (var s = 0u; s <= slices; s++) {",
      `let k0 = s * ${BK}u;`,
      "let more = s < slices;",
      "if (more) {",
      ...loads(a, sa),
      ...loads(b, sb),
      "}",
      "if (s > 0u) {",
      `let curA = ((s - 1u) & 1u) * ${sizeA}u;`,
      `let curB = ((s - 1u) & 1u) * ${sizeB}u;`,
      ...multiply("curA", "curB"),
      "}",
      "if (more) {",
      ...stores(sa, `(s & 1u) * ${sizeA}u`),
      ...stores(sb, `(s & 1u) * ${sizeB}u`),
      "}",
      "workgroupBarrier();",
      "}",
    );
  } else {
    body.push(
      "for (var s = 0u; s < slices; s++) {",
      `let k0 = s * ${BK}u;`,
      ...loads(a, sa),
      ...loads(b, sb),
      ...stores(sa, "0u"),
      ...stores(sb, "0u"),
      "workgroupBarrier();",
      ...multiply("0u", "0u"),
      "workgroupBarrier();",
      "}",
    );
  }

  // Epilogue: row i = 4 ty + 4 WY (i / 4) + i % 4, column group h at 4 tx + 4 WX h.
  body.push(
    "let cbase = u.offC + bi * u.sC;",
    `let inside = m0 + ${BM}u <= u.M && n0 + ${BN}u <= u.N;`,
  );
  const rowOf = (i: number) => `m0 + 4u * ty + ${4 * WY * (i >> 2) + (i & 3)}u`;
  const colOf = (h: number) => `n0 + 4u * tx + ${4 * WX * h}u`;
  const groupStore = (i: number, h: number, guard: boolean): string => {
    const idx = `cr + ${4 * WX * h}u`, n = colOf(h), va = acc(i, h);
    switch (v.store) {
      case "quad": // rows 4-aligned: a quad of columns is wholly inside C or outside
        return guard
          ? `if (${n} < u.N) { out4((${idx}) / 4u, ${va}); }`
          : `out4((${idx}) / 4u, ${va});`;
      case "pair": // rows 2-aligned (16-bit C)
        return guard
          ? `if (${n} < u.N) { out2((${idx}) / 2u, ${va}.xy); } ` +
            `if (${n} + 2u < u.N) { out2((${idx}) / 2u + 1u, ${va}.zw); }`
          : `out2((${idx}) / 2u, ${va}.xy); out2((${idx}) / 2u + 1u, ${va}.zw);`;
      case "single":
        return [0, 1, 2, 3].map((c) =>
          guard
            ? `if (${n} + ${c}u < u.N) { out1(${idx} + ${c}u, ${va}[${c}]); }`
            : `out1(${idx} + ${c}u, ${va}[${c}]);`
        ).join(" ");
    }
  };
  const epilogue = (guard: boolean) => {
    const lines: string[] = [];
    for (let i = 0; i < TM; i++) {
      const row = [`let cr = cbase + (${rowOf(i)}) * u.ldc + 4u * tx + n0;`];
      for (let h = 0; h < GN; h++) row.push(groupStore(i, h, guard));
      lines.push(guard ? `if (${rowOf(i)} < u.M) {` : "{", ...row, "}");
    }
    return lines;
  };
  body.push("if (inside) {", ...epilogue(false), "} else {", ...epilogue(true), "}");

  const storage = (arr: string, size: number) =>
    `var<workgroup> ${arr}: array<vec4f, ${(pipelined ? 2 : 1) * size}>;`;
  return bufferKernel({
    name,
    ...v,
    workgroupSize: [WX, WY],
    prelude: `${storage("As", sizeA)}\n${storage("Bs", sizeB)}`,
    body: body.join("\n  "),
  });
}

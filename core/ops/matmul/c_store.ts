/**
 * How the matmul kernels store C: one element, a pair or a quad of consecutive elements of a row
 * at a time, and the WGSL of the epilogue C = alpha * v (+ old C when beta is 1) at that width.
 *
 * A kernel writing 16-bit outputs writes whole pairs (`core/accessors.ts`): two invocations
 * storing the halves of one bf16 word would race. A C row of odd length N shares a word with
 * the next row, owned by another invocation, so bf16 C needs N even (and an even batch stride);
 * `matmul` refuses it otherwise, by name (keep C f32, as the accumulation is f32 anyway, or pad
 * N). f16 has single-element stores (WGSL `f16` is a 16-bit type), so f16 C of any N works.
 * @module
 */
import type { FloatDType } from "../../dtype.ts";

/** Elements per store of C: `single`, `pair` (16-bit C) or `quad` (4 columns). */
export type CStore = "single" | "pair" | "quad";

/** What decides how C can be stored. */
export interface CLayout {
  /** Storage type of C. */
  dC: FloatDType;
  /** Columns (the row pitch of C). */
  N: number;
  /** Products in the batch. */
  batch: number;
  /** Elements between the batch's C matrices. */
  sC: number;
}

/**
 * Whether every row of C (of every batch item) starts at a multiple of `q` elements: chunk
 * origins along n are multiples of 4 and binding offsets are aligned, so that is N and sC.
 */
export function rowsAligned(c: CLayout, q: number): boolean {
  return c.N % q === 0 && (c.batch === 1 || c.sC % q === 0);
}

/**
 * The widest store a kernel can use for C: `quad` where rows are 4-aligned and the kernel has
 * quad stores (`quad`), else `pair` for 16-bit C with 2-aligned rows, else `single` (f32, f16).
 * Null for bf16 C whose rows are not 2-aligned (no single bf16 store exists: see the module doc).
 */
export function cStoreOf(c: CLayout, quad: boolean): CStore | null {
  if (quad && rowsAligned(c, 4)) return "quad";
  if (c.dC !== "f32" && rowsAligned(c, 2)) return "pair";
  return c.dC === "bf16" ? null : "single";
}

/** Storage width of C's binding: vec4 for f32 quads (one vector store), else scalars or words. */
export function cWidth(dC: FloatDType, store: CStore): 1 | 4 {
  return store === "quad" && dC === "f32" ? 4 : 1;
}

/**
 * WGSL of the epilogue for `store`, reading `u.alpha` and `u.beta`: `out1(i, v)` (element i),
 * `out2(p, v)` (elements 2p, 2p + 1) or `out4(q, v)` (elements 4q .. 4q + 3). C is read only when
 * beta is 1 (a uniform branch: with beta 0 a NaN in C is ignored and C costs no reads).
 */
export function epilogueWgsl(store: CStore): string {
  const [fn, arg, type, acc] = store === "single"
    ? ["out1", "i", "f32", "C_store(i, w)"]
    : store === "pair"
    ? ["out2", "p", "vec2f", "C_store2(p, w)"]
    : ["out4", "q", "vec4f", "C_store4(q, w)"];
  const load = store === "single" ? "C_load" : store === "pair" ? "C_load2" : "C_load4";
  return `fn ${fn}(${arg}: u32, v: ${type}) {
  var w = u.alpha * v;
  if (u.beta != 0.0) { w += ${load}(${arg}); }
  ${acc};
}`;
}

/** Short tag of a store for kernel names. */
export function storeTag(store: CStore): string {
  return store === "single" ? "c1" : store === "pair" ? "c2" : "c4";
}

/**
 * How the ops' kernels take 16-bit operands (f16, bf16) through the dtype seam. Every float
 * binding declares its dtype and the bodies call the generated accessors (`core/accessors.ts`),
 * so one body serves every storage type and computes in f32:
 * - Kernels whose float operands are all f32 keep the structure they had before the seam (one
 *   element or one vec4 per invocation, the same operations in the same order: the same bits)
 *   and their names; a 16-bit variant is named after its dtypes (`dtypeSuffix`).
 * - A kernel writing a 16-bit output writes whole u32 words, never one half of a word that
 *   another invocation writes the other half of: elementwise kernels take pairs of elements;
 *   row kernels whose rows are whole quads take vec4s as in f32; row kernels with rows of other
 *   lengths store their outputs word by word (`rowWordsWgsl`), two rows per invocation or
 *   workgroup when rows have odd length (two odd rows fill whole words).
 * - An op writes its elements and no others: the last pair of an odd count keeps the other half
 *   of its word (`store2nWgsl`), so ops on 16-bit views of odd size leave the parent's next
 *   element alone (that half is the padding of a whole tensor, the next element of a view).
 * @module
 */
import type { FloatDType } from "../dtype.ts";

/**
 * The suffix of a kernel's name for the dtypes of its float operands: "" when all are f32 (the
 * f32 kernels keep their names), `_bf16` when all are bf16, else each operand's
 * (`_xf32_ybf16`).
 */
export function dtypeSuffix(ds: Readonly<Record<string, FloatDType>>): string {
  const all = Object.values(ds);
  if (all.every((d) => d === "f32")) return "";
  if (all.every((d) => d === all[0])) return `_${all[0]}`;
  return Object.entries(ds).map(([k, d]) => `_${k}${d}`).join("");
}

/** Whether any of `ds` is 16-bit (the kernel then takes the 16-bit structure). */
export function anyHalf(...ds: FloatDType[]): boolean {
  return ds.some((d) => d !== "f32");
}

/**
 * WGSL of `<x>_store2n(p: u32, v: vec2f, n: u32)`: stores elements 2p and 2p + 1 of binding `x`
 * (written, width 1), the second only when 2p + 1 < n. At the last pair of an odd count the
 * other half of the word keeps its bits (bf16: the word is merged in integer arithmetic; f16 and
 * f32: a single-element store), so the range [0, n) is written and nothing past it.
 */
export function store2nWgsl(x: string, d: FloatDType): string {
  const tail = d === "bf16"
    ? `${x}[p] = (${x}[p] & 0xffff0000u) | bf16_bits(v.x);`
    : `${x}_store(2u * p, v.x);`;
  return `fn ${x}_store2n(p: u32, v: vec2f, n: u32) {
  if (2u * p + 1u < n) { ${x}_store2(p, v); } else { ${tail} }
}`;
}

/** What `rowWordsWgsl` writes. */
export interface RowWords {
  /** The written binding (16-bit, width 1; its `_store2n` helper must be in the prelude). */
  out: string;
  /** WGSL expression of the row length (elements). */
  cols: string;
  /** First pair of this invocation relative to the block's first (0, or `lidx`). */
  start: string;
  /** Pair stride (1, or `WG_X`). */
  stride: string;
  /**
   * WGSL expression of the value of element `e` of the binding, which is element `k` of row `rr`
   * (0 or 1) of the block.
   */
  value: string;
}

/**
 * WGSL of the write phase of a row kernel with a 16-bit output: the elements [e0, e1) of a block
 * of one or two rows (`e0`, `e1` in scope; e0 even: blocks of rows of odd length hold two rows)
 * are computed and stored pair by pair, each pair by one invocation. `e1` may be odd only for the
 * last block, whose last word keeps its other half (`store2nWgsl`). In place (the output aliases
 * an input) is safe: a pair's inputs are read before the pair is stored.
 */
export function rowWordsWgsl(w: RowWords): string {
  return `for (var p = e0 / 2u + ${w.start}; p < (e1 + 1u) / 2u; p += ${w.stride}) {
    var v = vec2f(0.0);
    for (var h = 0u; h < 2u; h++) {
      let e = 2u * p + h;
      if (e < e1) {
        let rr = select(0u, 1u, e - e0 >= ${w.cols});
        let k = e - e0 - rr * ${w.cols};
        v[h] = ${w.value};
      }
    }
    ${w.out}_store2n(p, v, e1);
  }`;
}

/**
 * WGSL head of a row kernel's 16-bit word variant: block `blk` of `u.rpi` rows (`rowsPerBlock`),
 * its first row `r0` and its row count `nr` (1 or 2; `rows`: the uniform holding the rows); an
 * invocation (or workgroup) past the last block returns.
 */
export function blockHeadWgsl(blk: string, rows: string): string {
  return `let blk = ${blk};
  if (blk >= (${rows} + u.rpi - 1u) / u.rpi) { return; }
  let r0 = blk * u.rpi;
  let nr = min(u.rpi, ${rows} - r0);`;
}

/** WGSL: the element range [e0, e1) of the block of `blockHeadWgsl`, rows of `cols` elements. */
export function blockRangeWgsl(cols: string): string {
  return `let e0 = r0 * ${cols};
  let e1 = e0 + nr * ${cols};`;
}

/** Rows per block of a row kernel with a 16-bit output: 2 when rows have odd length, else 1. */
export function rowsPerBlock(cols: number): 1 | 2 {
  return cols % 2 === 1 ? 2 : 1;
}

/**
 * Packing an operand chunk into a scratch texture for the texture kernel: by a buffer-to-texture
 * copy where the operand's rows are already laid out as texture lines want them, otherwise by a
 * packing kernel (which also zero-fills past the row's end and the padding rows). f32 operands go
 * into rgba32float textures, f16 ones into rgba16float (exact, half the bytes, and still copied
 * where the layout allows), bf16 ones into rgba32float by the packing kernel (bf16 bits are no f16
 * bits, and rgba16float would clip bf16's range).
 * @module
 */
import { elementBytes, type FloatDType } from "../../dtype.ts";
import type { Encoder, TensorRange } from "../../encoder.ts";
import type { KernelSpec, TextureFormat } from "../../kernel.ts";
import { cachedSpec } from "../../spec_cache.ts";
import type { Tensor } from "../../tensor.ts";

/** The scratch-texture format an operand of `dtype` is packed into. */
export function textureFormatOf(dtype: FloatDType): TextureFormat {
  return dtype === "f16" ? "rgba16float" : "rgba32float";
}

/**
 * How a pack kernel reads its operand: `s` scalar loads (any layout); `k4` one vec4 along k per
 * texel (k contiguous: ldk 1, K, ldr, off and sX multiples of 4); `r4` four vec4 along rows per
 * four texels (rows contiguous: ldr 1, R, ldk, off and sX multiples of 4).
 */
export type PackMode = "s" | "k4" | "r4";

/**
 * Packs rows of op(X) (A, or B^T) into an rgba32float texture, k-contiguous: packed row
 * r = item * Rp + row (item = gid.z) holds X[off + item * sX + row * ldr + k * ldk] for k < K as
 * P texels, zero-filled past K and in the padding rows R <= row < Rp. Rows go 2^sh to a texture
 * line: row r starts at texel ((r & (2^sh - 1)) * P, r >> sh) (a power of two: integer division
 * is scalarised per lane on llvmpipe and cost more than the packing itself). Uniforms are in
 * elements; the vec4 modes divide them by 4 themselves. X is f32, f16 or bf16, the texture of
 * its format (`textureFormatOf`).
 */
export function packSpec(mode: PackMode, dtype: FloatDType): KernelSpec {
  const name = `matmul_pack_${mode}_${dtype}`;
  return cachedSpec(name, () => packSpecOf(name, mode, dtype));
}

function packSpecOf(name: string, mode: PackMode, dtype: FloatDType): KernelSpec {
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
    v.x = X_load(base + k * u.ldk);
    if (k + 1u < u.K) { v.y = X_load(base + (k + 1u) * u.ldk); }
    if (k + 2u < u.K) { v.z = X_load(base + (k + 2u) * u.ldk); }
    if (k + 3u < u.K) { v.w = X_load(base + (k + 3u) * u.ldk); }
  }
  T_store(${at("r", "k4")}, v);`;
  } else if (mode === "k4") {
    body = `${head}
  var v = vec4f(0.0);
  if (row < u.R) { v = X_load4(base / 4u + k4); }
  T_store(${at("r", "k4")}, v);`;
  } else {
    // Rows r..r+3 (one batch item: Rp and R are multiples of 4) at k..k+3: q_c holds k + c.
    body = `${head}
  var q0 = vec4f(0.0); var q1 = vec4f(0.0); var q2 = vec4f(0.0); var q3 = vec4f(0.0);
  if (row < u.R) {
    let b4 = base / 4u; let l4 = u.ldk / 4u;
    q0 = X_load4(b4 + k * l4);
    if (k + 1u < u.K) { q1 = X_load4(b4 + (k + 1u) * l4); }
    if (k + 2u < u.K) { q2 = X_load4(b4 + (k + 2u) * l4); }
    if (k + 3u < u.K) { q3 = X_load4(b4 + (k + 3u) * l4); }
  }
  T_store(${at("r", "k4")}, vec4f(q0.x, q1.x, q2.x, q3.x));
  T_store(${at("r + 1u", "k4")}, vec4f(q0.y, q1.y, q2.y, q3.y));
  T_store(${at("r + 2u", "k4")}, vec4f(q0.z, q1.z, q2.z, q3.z));
  T_store(${at("r + 3u", "k4")}, vec4f(q0.w, q1.w, q2.w, q3.w));`;
  }
  return {
    name,
    bindings: [{ name: "X", dtype, width: mode === "s" ? 1 : 4 }],
    textures: [{ name: "T", access: "write", format: textureFormatOf(dtype) }],
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
  };
}

/**
 * One operand chunk to pack: for item < items, row < rows, j < length, element
 * X[first + item * itemStride + row * rowStride + j * step] goes to packed row
 * item * paddedRows + row, texel j / 4 of that row (rows 2^shift to a texture line). "Rows" are
 * rows of op(A) or op(B)^T (j runs along k), or, for operands packed in their natural layout
 * (A stored [K, M], B stored [K, N]), k (j runs along m or n).
 */
export interface PackJob {
  /** The operand, A or B. */
  X: Tensor;
  /** The scratch texture it goes into. */
  tex: GPUTexture;
  /** How the packing kernel reads X, when the job is not a copy. */
  mode: PackMode;
  /** Element of X where row 0 of item 0 starts. */
  first: number;
  /** Rows per item. */
  rows: number;
  /** Packed rows per item (rows, padded to the kernel's block or to 4 k with zeros). */
  paddedRows: number;
  /** Batch items. */
  items: number;
  /** Elements of X between items. */
  itemStride: number;
  /** Elements of X between rows. */
  rowStride: number;
  /** Elements of X between consecutive elements of a row. */
  step: number;
  /** Elements per packed row in this chunk. */
  length: number;
  /** Texels per packed row. */
  texels: number;
  /** log2 of the packed rows per texture line. */
  shift: number;
  /** Elements of a whole stored row of X (a copy needs rows that are whole: length == rowLength). */
  rowLength: number;
  /** Natural layout: its padding rows are k rows, which must be zero, so a copy needs none. */
  natural: boolean;
}

/** A job's steps: the copies (which end the pass), or a kernel to run after them. */
export interface PackSteps {
  /** Buffer-to-texture copies. */
  copy?: () => void;
  /** The packing kernel's dispatch. */
  after?: () => void;
}

/**
 * How to pack `j`: a copy when its rows are already laid out as the texture lines want them (k
 * contiguous and whole, items back to back without padding rows, 256-byte line pitch): lavapipe
 * copies 4 MiB in ~0.5 ms where a packing kernel takes ~5 ms (its storage-buffer loads).
 * Otherwise the packing kernel (always for bf16, which no texture format holds bit for bit).
 * `bind` binds an element range of X (aligned, as `bindRange`).
 */
export function packSteps(
  enc: Encoder,
  j: PackJob,
  bind: (t: Tensor, s: number, e: number) => [TensorRange, number],
): PackSteps {
  const rpl = 2 ** j.shift, dtype = j.X.dtype as FloatDType, eb = elementBytes(dtype);
  const rows = j.items * j.rows, pitch = rpl * j.length * eb;
  const whole = dtype !== "bf16" && j.step === 1 && j.length === j.rowLength &&
    j.rowLength % 4 === 0 &&
    j.first % 4 === 0;
  const backToBack = j.items === 1 ||
    (j.itemStride === j.rows * j.rowLength && j.paddedRows === j.rows);
  if (
    whole && backToBack && (!j.natural || j.paddedRows === j.rows) &&
    (rows <= rpl || pitch % 256 === 0)
  ) {
    // Whole lines of rpl packed rows, then the partial last line.
    const lines = Math.floor(rows / rpl), rem = rows - lines * rpl;
    return {
      copy: () => {
        enc.copyToTexture(j.X, j.tex, j.first * eb, lines > 1 ? pitch : undefined, [0, 0], [
          rpl * j.texels,
          lines,
        ]);
        enc.copyToTexture(j.X, j.tex, j.first * eb + lines * pitch, undefined, [0, lines], [
          rem * j.texels,
          1,
        ]);
      },
    };
  }
  const end = j.first + (j.items - 1) * j.itemStride + (j.rows - 1) * j.rowStride +
    (j.length - 1) * j.step + 1;
  const [rx, off] = bind(j.X, j.first, end);
  const perGroup = j.mode === "r4" ? 32 : 8; // rows per workgroup (r4: 4 rows per invocation)
  const uniforms = {
    R: j.rows,
    Rp: j.paddedRows,
    K: j.length,
    P: j.texels,
    sh: j.shift,
    off,
    sX: j.itemStride,
    ldr: j.rowStride,
    ldk: j.step,
  };
  return {
    after: () =>
      enc.dispatch(packSpec(j.mode, dtype), { X: rx, T: j.tex }, uniforms, [
        Math.ceil(j.texels / 8),
        Math.ceil(j.paddedRows / perGroup),
        j.items,
      ]),
  };
}

/**
 * Argument checks shared by the ops: each throws an Error naming the op, the argument and the
 * tensor when a caller passes the wrong dtype or too few elements.
 * @module
 */
import { bytesOf, type FloatDType } from "../dtype.ts";
import { needDtype } from "../dtype_check.ts";
import { DTypeError } from "../errors.ts";
import type { Gpu } from "../gpu.ts";
import type { Tensor } from "../tensor.ts";

/** The float storage types an activation operand may have (kernels compute in f32 for each). */
export const FLOATS: readonly FloatDType[] = ["f32", "f16", "bf16"];

/** Throw a DTypeError unless `t` is f32 with at least `n` elements. */
export function needF32(op: string, name: string, t: Tensor, n: number): void {
  needDtype(op, name, t, ["f32"], n);
}

/**
 * Throw a DTypeError unless `t` is one of the float dtypes `accepted` (default f32, f16, bf16)
 * with at least `n` elements, and, when it is f16, unless `gpu` has `shader-f16` (f16 kernels
 * need it; bf16 works everywhere). The messages name the op, the binding and the tensor. Returns
 * the dtype.
 */
export function needFloat(
  op: string,
  name: string,
  t: Tensor,
  n: number,
  gpu: Gpu | null,
  accepted: readonly FloatDType[] = FLOATS,
): FloatDType {
  const d = needDtype(op, name, t, accepted, n);
  if (d === "f16" && gpu && !gpu.hasF16) {
    throw new DTypeError(
      `${op}: ${name} ${t} is f16, which needs the adapter feature 'shader-f16' that ` +
        `${gpu.description} lacks; use bf16`,
    );
  }
  return d;
}

/**
 * Throw unless `mask` can hold `n` elements packed as `dt` (bytes 4 per word, bits 32 per word).
 * A mask tensor typed u8 or bit must match `dt`; a u32 tensor of words is accepted by size.
 */
export function needMask(op: string, mask: Tensor, dt: "u8" | "bit", n: number): void {
  if ((mask.dtype === "u8" || mask.dtype === "bit") && mask.dtype !== dt) {
    throw new Error(`${op}: mask ${mask} does not match maskDtype '${dt}'`);
  }
  if (mask.bytes < bytesOf(dt, n)) {
    throw new Error(`${op}: mask ${mask} is smaller than ${n} '${dt}' elements`);
  }
}

/** Throw unless `t` is an i32 tensor with at least `n` elements that fits one binding. */
export function needI32(op: string, name: string, t: Tensor, n: number, gpu: Gpu | null): void {
  if (t.dtype !== "i32") throw new Error(`${op}: ${name} must be i32, got ${t}`);
  if (t.size < n) throw new Error(`${op}: ${name} ${t} has fewer than ${n} elements`);
  if (gpu && 4 * n > gpu.maxBinding) {
    throw new Error(`${op}: index tensor ${name} (${n} rows) exceeds one binding; unsupported`);
  }
}

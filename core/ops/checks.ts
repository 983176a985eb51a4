/**
 * Argument checks shared by the ops: each throws an Error naming the op, the argument and the
 * tensor when a caller passes the wrong dtype or too few elements.
 * @module
 */
import { bytesOf } from "../dtype.ts";
import type { Gpu } from "../gpu.ts";
import type { Tensor } from "../tensor.ts";

/** Throw unless `t` is f32 with at least `n` elements. */
export function needF32(op: string, name: string, t: Tensor, n: number): void {
  if (t.dtype !== "f32") throw new Error(`${op}: ${name} must be f32, got ${t}`);
  if (t.size < n) throw new Error(`${op}: ${name} ${t} has fewer than ${n} elements`);
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

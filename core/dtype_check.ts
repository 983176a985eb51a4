/**
 * Refusing element types by name: ops call `needDtype` for each tensor argument, and kernels that
 * declare f16 storage need the adapter's `shader-f16` (`needDtypeSupport`, checked when a kernel
 * is compiled). bf16 and the other dtypes work on every adapter.
 * @module
 */
import type { DType } from "./dtype.ts";
import { DTypeError } from "./errors.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Throw a DTypeError unless `t` has one of the `accepted` dtypes (and, when `n` is given, at least
 * `n` elements); returns its dtype, narrowed to `accepted`. The message names the op, the binding,
 * the tensor and what the op accepts there, e.g.
 * `geluForward: x must be f32 or f16, got [37] bf16 workspace 'h'`.
 */
export function needDtype<D extends DType>(
  op: string,
  binding: string,
  t: Tensor,
  accepted: readonly D[],
  n?: number,
): D {
  if (!(accepted as readonly DType[]).includes(t.dtype)) {
    const list = accepted.length === 1
      ? accepted[0]
      : `${accepted.slice(0, -1).join(", ")} or ${accepted[accepted.length - 1]}`;
    throw new DTypeError(`${op}: ${binding} must be ${list}, got ${t}`);
  }
  if (n !== undefined && t.size < n) {
    throw new DTypeError(`${op}: ${binding} ${t} has fewer than ${n} elements`);
  }
  return t.dtype as D;
}

/** What `needDtypeSupport` reads of a Gpu. */
export interface DtypeSupport {
  /** Adapter description, named in the error. */
  readonly description: string;
  /** Whether the device has `shader-f16`. */
  readonly hasF16: boolean;
}

/** Whether kernels on `gpu` can use `dtype` (false only for f16 without `shader-f16`). */
export function supportsDtype(gpu: DtypeSupport, dtype: DType): boolean {
  return dtype !== "f16" || gpu.hasF16;
}

/**
 * Throw a DTypeError unless kernels on `gpu` can use `dtype`:
 * `f16 needs the adapter feature 'shader-f16', which <adapter> lacks; use bf16`.
 */
export function needDtypeSupport(gpu: DtypeSupport, dtype: DType): void {
  if (supportsDtype(gpu, dtype)) return;
  throw new DTypeError(
    `f16 needs the adapter feature 'shader-f16', which ${gpu.description} lacks; use bf16`,
  );
}

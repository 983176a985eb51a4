/**
 * A tensor: a GPU buffer (or none, in planning mode) with a shape, a dtype and a memory category.
 * @module
 */
import { bytesOf, type DType, numel } from "./dtype.ts";

/** What a buffer is for; the allocator accounts bytes by category. */
export type Category = "param" | "grad" | "optimizer" | "activation" | "workspace";

/** All categories, in report order. */
export const CATEGORIES: readonly Category[] = [
  "param",
  "grad",
  "optimizer",
  "activation",
  "workspace",
];

let nextId = 1;

/** A GPU tensor. Created by an `Allocator`; do not construct directly outside core. */
export class Tensor {
  /** Unique id, stable for the tensor's life. */
  readonly id: number = nextId++;
  /** Elements = product of the shape. */
  readonly size: number;
  /** Bytes the tensor accounts for (packed dtypes rounded up to whole u32 words). */
  readonly bytes: number;
  /** Reference count; the allocator frees the tensor when it drops to 0. */
  refs = 1;
  constructor(
    /** Shape, outermost first. */
    readonly shape: readonly number[],
    /** Element type. */
    readonly dtype: DType,
    /** Memory category (may be changed by `Allocator.recategorize`). */
    public category: Category,
    /** Human-readable name, e.g. `block3.attn.P`. */
    readonly label: string,
    /** The buffer, or null in planning mode. It may be larger than `bytes` (pooled size class). */
    readonly buffer: GPUBuffer | null,
    /** Byte offset into the buffer (non-zero only for views). */
    readonly offset = 0,
  ) {
    this.size = numel(shape);
    this.bytes = bytesOf(dtype, this.size);
  }

  /** The buffer; throws in planning mode, where no buffers exist. */
  get gpu(): GPUBuffer {
    if (!this.buffer) throw new Error(`tensor '${this.label}' has no GPU buffer (planning mode)`);
    return this.buffer;
  }

  /** `[2,3] f32 activation 'x'`. */
  toString(): string {
    return `[${this.shape.join(",")}] ${this.dtype} ${this.category} '${this.label}'`;
  }
}

/** Alignment of view offsets: WebGPU's largest allowed minStorageBufferOffsetAlignment. */
export const VIEW_ALIGN = 256;

/**
 * A view of `shape` starting `elemOffset` elements into `t` (f32/i32/u32 only). Views share the
 * buffer and are not accounted (the allocator already counts `t`). The byte offset must be a
 * multiple of 256 (storage binding alignment): choose chunk sizes accordingly.
 */
export function view(t: Tensor, elemOffset: number, shape: readonly number[]): Tensor {
  if (t.dtype !== "f32" && t.dtype !== "i32" && t.dtype !== "u32") {
    throw new Error(`view of packed tensor ${t} is not supported`);
  }
  const offset = t.offset + 4 * elemOffset;
  if (offset % VIEW_ALIGN !== 0) {
    throw new Error(
      `view of ${t} at element ${elemOffset}: byte offset ${offset} is not 256-aligned`,
    );
  }
  const v = new Tensor(shape, t.dtype, t.category, `${t.label}[${elemOffset}..]`, t.buffer, offset);
  if (4 * elemOffset + v.bytes > t.bytes) throw new Error(`view out of range of ${t}`);
  return v;
}

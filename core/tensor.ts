/**
 * A tensor: a GPU buffer (or none, in planning mode) with a shape, a dtype and a memory category.
 * @module
 */
import { bytesOf, type DType, elementsIn, numel } from "./dtype.ts";

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
  /** Bytes the tensor accounts for (`bytesOf`: packed dtypes rounded up to whole u32 words). */
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
 * Element offsets at which views of `dtype` may start: multiples of this (the elements in
 * VIEW_ALIGN bytes: 64 for f32/i32/u32, 128 for f16/bf16, 1024 for u8, 2048 for bit).
 */
export function viewAlignOf(dtype: DType): number {
  return elementsIn(dtype, VIEW_ALIGN);
}

/**
 * A view of `shape` starting `elemOffset` elements into `t`, of any dtype. Views share the buffer
 * and are not accounted (the allocator already counts `t`). The byte offset must be a multiple
 * of 256 (storage binding alignment), i.e. `elemOffset` a multiple of `viewAlignOf(t.dtype)`:
 * choose chunk sizes accordingly. Its elements lie inside `t`'s; a 16-bit view of odd size ends
 * in the padding half of its last word (so writing pairs through it touches `t`'s next element).
 */
export function view(t: Tensor, elemOffset: number, shape: readonly number[]): Tensor {
  const step = viewAlignOf(t.dtype);
  const offset = t.offset + bytesOf(t.dtype, elemOffset);
  if (!Number.isInteger(elemOffset) || elemOffset % step !== 0 || offset % VIEW_ALIGN !== 0) {
    throw new Error(
      `view of ${t} at element ${elemOffset}: byte offset ${offset} is not 256-aligned ` +
        `(${t.dtype} views start at multiples of ${step} elements)`,
    );
  }
  const v = new Tensor(shape, t.dtype, t.category, `${t.label}[${elemOffset}..]`, t.buffer, offset);
  if (elemOffset + v.size > t.size) throw new Error(`view out of range of ${t}`);
  return v;
}

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

/**
 * The key/value cache of incremental decoding: per block, the keys and values of every position
 * seen so far, [B, NH, Tmax, HS] each (Tmax = the model's positions), written by the cached
 * attention layers and read back at every later step. `length` is the number of positions
 * filled, the same for every block and every sequence of the batch; the model advances it after
 * a whole forward, so that every block writes its new positions at the same offset.
 * @module
 */
import type { Allocator } from "../core/allocator.ts";
import { TempoError } from "../core/errors.ts";
import type { Tensor } from "../core/tensor.ts";

/** Shapes of a cache. */
export interface KvCacheShape {
  /** L blocks. */
  layers: number;
  /** B sequences decoded together. */
  B: number;
  /** NH heads. */
  NH: number;
  /** HS head size. */
  HS: number;
  /** Tmax positions (the model's). */
  Tmax: number;
}

/** Per-block key and value caches (category `activation`: they live across forwards). */
export class KvCache {
  /** Keys of block l: [B, NH, Tmax, HS]. */
  readonly k: readonly Tensor[];
  /** Values of block l: [B, NH, Tmax, HS]. */
  readonly v: readonly Tensor[];
  #length = 0;

  constructor(readonly alloc: Allocator, readonly shape: KvCacheShape) {
    const { layers, B, NH, HS, Tmax } = shape;
    const dims = [B, NH, Tmax, HS];
    this.k = Array.from(
      { length: layers },
      (_, l) => alloc.alloc(dims, "f32", "activation", `kv.${l}.k`),
    );
    this.v = Array.from(
      { length: layers },
      (_, l) => alloc.alloc(dims, "f32", "activation", `kv.${l}.v`),
    );
  }

  /** Positions filled. */
  get length(): number {
    return this.#length;
  }

  /** Positions still free. */
  get free(): number {
    return this.shape.Tmax - this.#length;
  }

  /** Record that a forward wrote `n` more positions into every block's cache. */
  advance(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.free) {
      throw new TempoError(`KV cache: ${n} positions do not fit the ${this.free} left`);
    }
    this.#length += n;
  }

  /** Forget every position (the tensors are kept and overwritten). */
  reset(): void {
    this.#length = 0;
  }

  /** Free the tensors. */
  release(): void {
    for (const t of [...this.k, ...this.v]) this.alloc.release(t);
  }
}

/**
 * The attention core of incremental decoding, the inference twin of `Attention`
 * (layers/attention.ts): between the same QKV projection and the same output projection, it
 * appends the new positions' keys and values to its block's KV cache and attends the new queries
 * over every cached position, so a step over n new positions costs O(n * (cached + n)) instead of
 * recomputing the prefix. Inputs: [qkv [B,n,3C], padMask (unused: decoding batches are unpadded)].
 * Output [B,n,C]. Forward only: it keeps nothing and has no backward.
 * @module
 */
import { cachedAttention } from "../core/ops/cached_attention.ts";
import { kvAppend } from "../core/ops/kv_cache.ts";
import type { StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import type { AttentionShape } from "./attention.ts";
import type { KvCache } from "./kv_cache.ts";
import type { Layer, SavedSpec } from "./layer.ts";

/** Attention of `shape.T` new positions over block `block`'s cache. */
export class CachedAttention implements Layer {
  constructor(
    readonly name: string,
    /** B, T = new positions per call, NH, HS. */
    readonly shape: AttentionShape,
    readonly cache: KvCache,
    /** The block whose cache this layer reads and writes. */
    readonly block: number,
    /** Causal (GPT-2): each new position sees the cache and the new positions up to itself. */
    readonly causal: boolean,
  ) {
    const c = cache.shape;
    if (c.B !== shape.B || c.NH !== shape.NH || c.HS !== shape.HS || block >= c.layers) {
      throw new Error(`${name}: the cache's shape does not match the layer's`);
    }
  }

  saves(): SavedSpec[] {
    return [];
  }

  forward(ctx: StepContext, [qkv]: readonly Tensor[]): Tensor {
    const { B, T: n, NH, HS } = this.shape;
    const c = this.cache, start = c.length, Tmax = c.shape.Tmax;
    if (n > c.free) {
      throw new Error(`${this.name}: ${n} new positions do not fit the cache's ${c.free} free`);
    }
    const k = c.k[this.block], v = c.v[this.block];
    kvAppend(ctx.enc, { qkv, k, v, B, n, NH, HS, Tmax, start });
    const out = ctx.alloc.alloc([B, n, NH * HS], "f32", "workspace", `${this.name}.out`);
    const scale = 1 / Math.sqrt(HS);
    cachedAttention(ctx.enc, {
      out,
      qkv,
      k,
      v,
      B,
      n,
      NH,
      HS,
      Tmax,
      start,
      scale,
      causal: this.causal,
    });
    return out;
  }

  backward(): (Tensor | null)[] {
    throw new Error(`${this.name}: cached attention is for inference; it has no backward`);
  }
}

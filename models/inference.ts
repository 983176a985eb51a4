/**
 * Inference over a trained model: node lists built by the same block builder (blocks.ts) from the
 * same layer classes, over the same parameters, with a logits head instead of the loss. One
 * sequence at a time (B = 1): a node list is built per input length n (cheap: layer objects over
 * shared parameters) and kept.
 *
 * With a KV cache (`kvCache: true`, causal models), each block's attention core is the cached one
 * (layers/cached_attention.ts): a forward over n new tokens writes their keys and values after the
 * cached positions and attends over all of them, so decoding costs one position per new token.
 * Without it, every forward is the model's ordinary forward over the whole sequence.
 *
 * - `InferenceModel.forward(ids, rows)`: logits [rows, V] of a forward over `ids`;
 * - `Decoder.next(context)`: the next-token logits after a context, reusing the cache when the
 *   context extends the tokens already cached (else the cache is refilled from the context).
 * @module
 */
import type { Allocator } from "../core/allocator.ts";
import type { Encoder } from "../core/encoder.ts";
import { TempoError } from "../core/errors.ts";
import type { StepContext } from "../core/step.ts";
import type { BatchTensors } from "../layers/batch_tensors.ts";
import { CachedAttention } from "../layers/cached_attention.ts";
import { GatherRows } from "../layers/gather.ts";
import { InferenceParams } from "../layers/inference_params.ts";
import { KvCache } from "../layers/kv_cache.ts";
import { Linear } from "../layers/linear.ts";
import { LMLogits } from "../layers/lm_logits.ts";
import type { Param } from "../layers/params.ts";
import { BASELINE } from "../layers/tempo_options.ts";
import { archOf } from "./arch.ts";
import { releaseBatch, uploadBatch } from "./batch_upload.ts";
import { type AttentionFactory, BlockBuilder } from "./blocks.ts";
import type { ModelConfig } from "./config.ts";
import { Graph } from "./graph.ts";
import { checkVocabulary } from "./transformer.ts";

/** Options of an inference model. */
export interface InferenceOptions {
  /** Decode with a KV cache (causal models only). Default false. */
  kvCache?: boolean;
}

/** A node list for n positions and R head rows. */
interface Built {
  graph: Graph;
  rows: number;
}

/** A model's forward for inference (see the module doc). */
export class InferenceModel {
  /** Every parameter the inference node lists use (load them before the first forward). */
  readonly params: InferenceParams;
  /** The KV cache, or null. */
  readonly cache: KvCache | null;
  readonly #built = new Map<string, Built>();
  #batch: BatchTensors | null = null;

  constructor(
    readonly config: ModelConfig,
    readonly alloc: Allocator,
    readonly enc: Encoder,
    options: InferenceOptions = {},
  ) {
    const arch = archOf(config);
    if (options.kvCache && arch.attention !== "causal") {
      throw new TempoError(`a KV cache is for causal models; ${config.name} is ${config.arch}`);
    }
    this.params = new InferenceParams(alloc);
    const C = config.hidden, NH = config.heads;
    this.cache = options.kvCache
      ? new KvCache(alloc, {
        layers: config.layers,
        B: 1,
        NH,
        HS: C / NH,
        Tmax: config.maxPositions,
      })
      : null;
    this.#build(1, 1); // creates every parameter, in the training model's order
  }

  /** Parameters by name. */
  get paramList(): readonly Param[] {
    return this.params.list;
  }

  /**
   * Logits [R, V] (row-major) at positions `rows` of a forward over `ids` (one sequence; after
   * the cached positions when there is a cache, which then holds them too). `types`: token types
   * (default 0).
   */
  async forward(ids: Int32Array, rows: Int32Array, types?: Int32Array): Promise<Float32Array> {
    const cfg = this.config, n = ids.length, start = this.cache?.length ?? 0;
    if (n < 1) throw new TempoError("nothing to run the model on: no tokens");
    if (start + n > cfg.maxPositions) {
      throw new TempoError(
        `${start + n} tokens exceed ${cfg.name}'s ${cfg.maxPositions} positions`,
        `give at most ${cfg.maxPositions - start} tokens`,
      );
    }
    checkVocabulary(ids, cfg);
    for (const r of rows) {
      if (!(Number.isInteger(r) && r >= 0 && r < n)) {
        throw new Error(`row ${r} outside 0..${n - 1}`);
      }
    }
    const { graph } = this.#build(n, rows.length);
    const ctx: StepContext = {
      enc: this.enc,
      alloc: this.alloc,
      training: false,
      seed: 0,
      stream: 0,
      lossScale: 1,
    };
    this.#batch = uploadBatch(ctx, {
      ids,
      positions: Int32Array.from({ length: n }, (_, i) => start + i),
      types: cfg.typeVocabSize > 0 ? (types ?? new Int32Array(n)) : null,
      padMask: null, // one sequence, never padded
      targets: new Int32Array(rows.length).fill(-1), // no loss is computed
      maskedPositions: rows,
      clsPositions: null,
      nspLabels: null,
    });
    try {
      const logits = graph.forward(ctx, { pad: null });
      const out = await this.enc.readF32(logits);
      graph.release(ctx);
      this.cache?.advance(n);
      return out;
    } finally {
      releaseBatch(ctx, this.#batch);
      this.#batch = null;
    }
  }

  /** Free the parameters, the cache and every pooled buffer. */
  dispose(): void {
    this.cache?.release();
    for (const p of this.params.list) this.alloc.release(p.value);
    this.alloc.trim();
  }

  #build(n: number, R: number): Built {
    const key = `${n}x${R}`;
    const have = this.#built.get(key);
    if (have) return have;
    const cfg = this.config, C = cfg.hidden, arch = archOf(cfg);
    const batch = () => {
      if (!this.#batch) throw new Error("no batch uploaded");
      return this.#batch;
    };
    const cache = this.cache;
    const attention: AttentionFactory | undefined = cache
      ? (a) => new CachedAttention(a.name, a.shape, cache, a.block, a.causal)
      : undefined;
    const store = this.params;
    const b = new BlockBuilder({ cfg, B: 1, T: n, tempo: BASELINE, store, batch, attention });
    const { x, embeddings } = b.trunk();
    // The head's rows, then the training head's layers without its loss: GPT-2's tied projection;
    // BERT/RoBERTa's transform (dense, GELU, LayerNorm) and tied projection with its bias.
    b.node(new GatherRows("head.rows", n, R, C, batch), [x], "head.x");
    let h = "head.x";
    if (arch.objective === "mlm") {
      const dense = new Linear("mlm.dense", store, R, C, C, { std: cfg.initStd });
      h = b.node(dense, [h], "mlm.dense");
      h = b.node(b.gelu("mlm.gelu", [R, C]), [h], "mlm.gelu");
      h = b.node(b.ln("mlm.ln", R), [h], "mlm.ln");
    }
    const lm = arch.objective === "lm";
    const head = new LMLogits(lm ? "lm_head" : "mlm.decoder", store, R, C, embeddings.wte, !lm);
    b.node(head, [h], "logits");
    const built = { graph: new Graph(b.nodes, ["pad"]), rows: R };
    this.#built.set(key, built);
    return built;
  }
}

/**
 * Next-token logits of a causal model. With a KV cache, a context that extends the cached tokens
 * costs only its new tokens; any other context refills the cache from it. Without one, every call
 * runs the whole context. Both give the same logits up to float rounding (tested token for token).
 */
export class Decoder {
  readonly #cached: number[] = [];

  constructor(readonly model: InferenceModel) {
    if (archOf(model.config).objective !== "lm") {
      throw new TempoError(
        `${model.config.name} is a masked LM (${model.config.arch}): it does not predict the next token`,
        "use `tempo fill-mask` for BERT and RoBERTa models",
      );
    }
  }

  /** Logits [V] of the token after `context` (1 .. maxPositions tokens). */
  async next(context: readonly number[]): Promise<Float32Array> {
    const m = this.model, cached = this.#cached;
    if (!m.cache) {
      return await m.forward(Int32Array.from(context), Int32Array.of(context.length - 1));
    }
    const extends_ = cached.length < context.length && cached.every((t, i) => t === context[i]);
    if (!extends_) {
      m.cache.reset();
      cached.length = 0;
    }
    const fresh = Int32Array.from(context.slice(cached.length));
    const logits = await m.forward(fresh, Int32Array.of(fresh.length - 1));
    for (const t of fresh) cached.push(t);
    return logits;
  }
}

/**
 * BERT / RoBERTa (post-LN encoder, tied MLM head at masked positions) and GPT-2 (pre-LN, causal,
 * tanh GELU, tied LM head), built from layers as a flat node list: one block body and one pair of
 * heads, chosen by the architecture's descriptor (arch.ts); the trunk comes from the block builder
 * (blocks.ts) that the inference models share. The model is built for a fixed batch B and
 * sequence length T, so that every buffer's size is known before the first step.
 * @module
 */
import type { Allocator } from "../core/allocator.ts";
import type { Precision } from "../core/precision.ts";
import type { Encoder } from "../core/encoder.ts";
import { TempoError } from "../core/errors.ts";
import type { StepContext } from "../core/step.ts";
import { type Tensor, view } from "../core/tensor.ts";
import { scaleAcc } from "../core/ops/elementwise.ts";
import { maskedPerSeq, type TokenBatch } from "../core/train/batch.ts";
import type { Model } from "../core/train/model.ts";
import type { BatchTensors } from "../layers/batch_tensors.ts";
import { GatherRows } from "../layers/gather.ts";
import { GammaGuard, type LayerNorm } from "../layers/layernorm.ts";
import { Linear } from "../layers/linear.ts";
import { LMArgmax } from "../layers/lm_argmax.ts";
import { LMLoss } from "../layers/lm_loss.ts";
import { type Param, ParamStore } from "../layers/params.ts";
import { Tanh } from "../layers/tanh.ts";
import type { TempoOptions } from "../layers/tempo_options.ts";
import { archOf } from "./arch.ts";
import { releaseBatch, uploadBatch } from "./batch_upload.ts";
import { BlockBuilder } from "./blocks.ts";
import type { ModelConfig } from "./config.ts";
import { Graph } from "./graph.ts";

/** Run shapes a model is built for. */
export interface RunShape {
  /** B. */
  batch: number;
  /** T. */
  seqLen: number;
}

/** Choices beyond the config, shapes and Tempo switches. */
export interface TransformerOptions {
  /** Where the parameters live (default a new training ParamStore: values and gradients). */
  params?: ParamStore;
  /**
   * Also record the head's argmax prediction of every loss row in `predictions` (evaluation:
   * masked-token or next-token accuracy). The loss is computed from the same tensors either way.
   */
  predictions?: boolean;
  /**
   * Storage of the activations and their gradients (`--precision`; default f32): what layers
   * pass between them and keep for backward. Parameters, their gradients, the loss and the
   * logits stay f32.
   */
  precision?: Precision;
}

/** Names of the batch tensors the graph reads from outside. */
const EXTERNALS = ["pad"];

/** A transformer built for (B, T) with the given Tempo switches. */
export class Transformer implements Model {
  /** All parameters. */
  readonly store: ParamStore;
  /** The node list (forward order). */
  readonly graph: Graph;
  /** Persistent [2] loss output (MLM + NSP means when NSP is on; the count is the MLM's). */
  readonly loss: Tensor;
  /** Persistent [2] NSP loss output, or null. */
  readonly nspLoss: Tensor | null;
  /** Persistent [R] i32 argmax of each loss row (with `options.predictions`), or null. */
  readonly predictions: Tensor | null;
  /** The LayerNorms (for the gamma guard and reports). */
  readonly layerNorms: LayerNorm[] = [];
  /** The gamma guard of the Tempo LayerNorms, checked at every training step. */
  readonly guard: GammaGuard = new GammaGuard(this.layerNorms);
  /** Storage of the activations and their gradients. */
  readonly precision: Precision;
  /** R: rows the loss is computed over (N for GPT-2, M for MLM). */
  readonly lossRows: number;
  #batch: BatchTensors | null = null;

  constructor(
    readonly config: ModelConfig,
    readonly shape: RunShape,
    readonly tempo: TempoOptions,
    readonly alloc: Allocator,
    options: TransformerOptions = {},
  ) {
    const cfg = config, B = shape.batch, T = shape.seqLen;
    if (!(Number.isInteger(B) && B >= 1)) throw new TempoError(`batch size must be >= 1, got ${B}`);
    if (!(Number.isInteger(T) && T >= 2)) {
      throw new TempoError(`sequence length must be >= 2, got ${T}`);
    }
    if (T > cfg.maxPositions) {
      throw new TempoError(
        `--seq-len ${T} exceeds ${cfg.name}'s ${cfg.maxPositions} positions`,
        `use --seq-len ${cfg.maxPositions} or less`,
      );
    }
    const C = cfg.hidden, N = B * T;
    const arch = archOf(cfg);
    const store = this.store = options.params ?? new ParamStore(alloc);
    this.loss = alloc.alloc([2], "f32", "workspace", "loss");
    this.nspLoss = cfg.nsp ? alloc.alloc([2], "f32", "workspace", "nsp.loss") : null;
    const batch = () => {
      if (!this.#batch) throw new Error("no batch uploaded");
      return this.#batch;
    };
    const dtype = this.precision = options.precision ?? "f32";
    const b = new BlockBuilder({
      cfg,
      B,
      T,
      tempo,
      store,
      batch,
      layerNorms: this.layerNorms,
      dtype,
    });
    const { x, embeddings: emb } = b.trunk();
    let predictions: Tensor | null = null;
    // The loss head, with the optional prediction probe reading the head's input just before it.
    const head = (loss: LMLoss, input: string) => {
      let h = input;
      if (predictions) {
        const probe = new LMArgmax(
          `${loss.name}.argmax`,
          loss.rows,
          C,
          loss.weight,
          loss.bias,
          predictions,
        );
        h = b.node(probe, [input], `${input}.scored`);
      }
      b.node(loss, [h], "loss");
    };
    if (arch.objective === "lm") {
      this.lossRows = N;
      if (options.predictions) predictions = alloc.alloc([N], "i32", "workspace", "predictions");
      head(new LMLoss("lm_head", store, N, C, emb.wte, false, this.loss, batch, "lm", dtype), x);
    } else {
      if (this.nspLoss) {
        // Next-sentence prediction: pooler (dense + tanh) on each sequence's first token, then a
        // 2-way classifier with its own cross-entropy. Placed before the MLM head so that the MLM
        // loss stays the graph's final node.
        b.node(new GatherRows("nsp.gather", N, B, C, batch, "clsPositions", dtype), [x], "nsp.cls");
        const pooler = new Linear("nsp.pooler", store, B, C, C, { std: cfg.initStd, dtype });
        b.node(pooler, ["nsp.cls"], "nsp.pooled");
        b.node(new Tanh("nsp.tanh", [B, C], dtype), ["nsp.pooled"], "nsp.tanh");
        const w = store.create("nsp.classifier.weight", [2, C], {
          kind: "normal",
          std: cfg.initStd,
        }, true);
        const cls = new LMLoss(
          "nsp.classifier",
          store,
          B,
          C,
          w,
          true,
          this.nspLoss,
          batch,
          "nsp",
          dtype,
        );
        b.node(cls, ["nsp.tanh"], "nsp.loss");
      }
      const M = B * maskedPerSeq(T);
      this.lossRows = M;
      if (options.predictions) predictions = alloc.alloc([M], "i32", "workspace", "predictions");
      b.node(new GatherRows("mlm.gather", N, M, C, batch, "maskedPositions", dtype), [x], "mlm.x");
      b.node(
        new Linear("mlm.dense", store, M, C, C, { std: cfg.initStd, dtype }),
        ["mlm.x"],
        "mlm.dense",
      );
      b.node(b.gelu("mlm.gelu", [M, C]), ["mlm.dense"], "mlm.gelu");
      b.node(b.ln("mlm.ln", M), ["mlm.gelu"], "mlm.ln");
      const decoder = new LMLoss(
        "mlm.decoder",
        store,
        M,
        C,
        emb.wte,
        true,
        this.loss,
        batch,
        "lm",
        dtype,
      );
      head(decoder, "mlm.ln");
    }
    this.predictions = predictions;
    b.checkSites();
    this.graph = new Graph(b.nodes, EXTERNALS);
  }

  /** Names of Tempo LayerNorms that keep their input because some |gamma| is ~0. */
  get guarded(): string[] {
    return this.layerNorms.filter((l) => l.guarded).map((l) => l.name);
  }

  /** Parameters with their gradients. */
  get params(): readonly Param[] {
    return this.store.list;
  }

  /** Initialise parameters (seeded) on the device. */
  initialize(enc: Encoder, seed: number): void {
    this.store.initialize(enc, seed);
  }

  forward(ctx: StepContext, batch: TokenBatch): void {
    this.#batch = this.#upload(ctx, batch);
    this.graph.forward(ctx, { pad: this.#batch.padMask });
    if (this.nspLoss) scaleAcc(ctx.enc, view(this.loss, 0, [1]), view(this.nspLoss, 0, [1]), 1, 1);
    if (!ctx.training) {
      this.graph.release(ctx);
      this.#releaseBatch(ctx);
    }
  }

  backward(ctx: StepContext): void {
    this.graph.backward(ctx);
    this.#releaseBatch(ctx);
  }

  #upload(ctx: StepContext, batch: TokenBatch): BatchTensors {
    const cfg = this.config, B = this.shape.batch, T = this.shape.seqLen, N = B * T;
    if (batch.B !== B || batch.T !== T || batch.inputIds.length !== N) {
      throw new TempoError(`batch is ${batch.B}x${batch.T}, the model was built for ${B}x${T}`);
    }
    const arch = archOf(cfg), lm = arch.objective === "lm";
    checkVocabulary(batch.inputIds, cfg);
    const positions = new Int32Array(N);
    for (let i = 0; i < N; i++) positions[i] = i % T;
    const types = cfg.typeVocabSize > 0 ? (batch.tokenTypeIds ?? new Int32Array(N)) : null;
    let targets: Int32Array;
    if (lm) {
      if (!batch.targets) throw new TempoError(`${cfg.arch} batches need next-token targets`);
      targets = batch.targets;
    } else {
      if (!batch.maskedPositions || !batch.maskedLabels) {
        throw new TempoError(`${cfg.arch} batches need masked positions and labels`);
      }
      if (batch.maskedLabels.length !== this.lossRows) {
        throw new TempoError(
          `batch has ${batch.maskedLabels.length} masked positions, expected ${this.lossRows}`,
        );
      }
      targets = batch.maskedLabels;
    }
    return uploadBatch(ctx, {
      ids: batch.inputIds,
      positions,
      types,
      // Causal LM batches are never padded; bidirectional attention reads the padding mask.
      padMask: arch.attention === "causal"
        ? null
        : (batch.attentionMask ?? new Int32Array(N).fill(1)),
      targets,
      maskedPositions: lm ? null : batch.maskedPositions!,
      clsPositions: cfg.nsp ? Int32Array.from({ length: B }, (_, b) => b * T) : null,
      nspLabels: cfg.nsp ? this.#nspLabels(batch) : null,
    });
  }

  #nspLabels(batch: TokenBatch): Int32Array {
    const l = batch.nspLabels;
    if (!l || l.length !== this.shape.batch) {
      throw new TempoError(
        `${this.config.name} has an NSP head but the batch has no next-sentence labels`,
        "make batches with NSP on (the MLM loader's nsp option), or set nsp: false in the config",
      );
    }
    return l;
  }

  #releaseBatch(ctx: StepContext): void {
    if (!this.#batch) return;
    releaseBatch(ctx, this.#batch);
    this.#batch = null;
  }
}

/** Throw a TempoError unless every id is inside the config's vocabulary. */
export function checkVocabulary(ids: ArrayLike<number>, cfg: ModelConfig): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id < 0 || id >= cfg.vocabSize) {
      throw new TempoError(
        `token id ${id} is outside ${cfg.name}'s vocabulary of ${cfg.vocabSize}`,
        "the data was tokenized for another vocabulary: re-run `tempo prepare` with this model's tokenizer",
      );
    }
  }
}

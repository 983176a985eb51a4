/**
 * BERT / RoBERTa (post-LN encoder, tied MLM head at masked positions) and GPT-2 (pre-LN, causal,
 * tanh GELU, tied LM head), built from layers as a flat node list: one block body and one pair of
 * heads, chosen by the architecture's descriptor (arch.ts). The model is built for a fixed batch
 * B and sequence length T, so that every buffer's size is known before the first step.
 * @module
 */
import type { Allocator } from "../core/allocator.ts";
import type { Encoder } from "../core/encoder.ts";
import { TempoError } from "../core/errors.ts";
import { buildGatherIndex } from "../core/ops/embedding.ts";
import { MAX_SITES, type StepContext } from "../core/step.ts";
import { type Tensor, view } from "../core/tensor.ts";
import { scaleAcc } from "../core/ops/elementwise.ts";
import { maskedPerSeq, type TokenBatch } from "../core/train/batch.ts";
import type { Model } from "../core/train/model.ts";
import { Attention } from "../layers/attention.ts";
import { FusedAttention } from "../layers/fused_attention.ts";
import type { BatchTensors, GatherIndexTensors } from "../layers/batch_tensors.ts";
import { Dropout } from "../layers/dropout.ts";
import { Embeddings } from "../layers/embedding.ts";
import { GatherRows } from "../layers/gather.ts";
import type { Layer } from "../layers/layer.ts";
import { Gelu } from "../layers/gelu.ts";
import { GammaGuard, LayerNorm } from "../layers/layernorm.ts";
import { Linear } from "../layers/linear.ts";
import { LMLoss } from "../layers/lm_loss.ts";
import { type Param, ParamStore } from "../layers/params.ts";
import { Residual } from "../layers/residual.ts";
import { Tanh } from "../layers/tanh.ts";
import type { TempoOptions } from "../layers/tempo_options.ts";
import { archOf } from "./arch.ts";
import type { ModelConfig } from "./config.ts";
import { Graph, type Node } from "./graph.ts";

/** Run shapes a model is built for. */
export interface RunShape {
  /** B. */
  batch: number;
  /** T. */
  seqLen: number;
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
  /** The LayerNorms (for the gamma guard and reports). */
  readonly layerNorms: LayerNorm[] = [];
  /** The gamma guard of the Tempo LayerNorms, checked at every training step. */
  readonly guard: GammaGuard = new GammaGuard(this.layerNorms);
  /** R: rows the loss is computed over (N for GPT-2, M for MLM). */
  readonly lossRows: number;
  #batch: BatchTensors | null = null;

  constructor(
    readonly config: ModelConfig,
    readonly shape: RunShape,
    readonly tempo: TempoOptions,
    readonly alloc: Allocator,
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
    const C = cfg.hidden, NH = cfg.heads, HS = C / NH, F = cfg.ffn, N = B * T;
    const arch = archOf(cfg), pre = arch.norm === "pre";
    const p = cfg.dropout, masks = tempo.masks;
    const store = this.store = new ParamStore(alloc);
    this.loss = alloc.alloc([2], "f32", "workspace", "loss");
    this.nspLoss = cfg.nsp ? alloc.alloc([2], "f32", "workspace", "nsp.loss") : null;
    const batch = () => {
      if (!this.#batch) throw new Error("no batch uploaded");
      return this.#batch;
    };
    // Layers are created in node order: parameter order (checkpoints, seeded initialisation) and
    // dropout sites (RNG streams) follow from it.
    const nodes: Node[] = [];
    const node = (layer: Layer, inputs: string[], output: string) => {
      nodes.push({ layer, inputs, output });
      return output;
    };
    let site = 0;
    const ln = (name: string, rows: number) => {
      const l = new LayerNorm(name, store, rows, C, cfg.layerNormEps, tempo.layernorm);
      this.layerNorms.push(l);
      return l;
    };
    const drop = (name: string, shape: number[]) => new Dropout(name, shape, p, site++, masks);
    const gelu = (name: string, shape: number[]) =>
      new Gelu(name, shape, arch.gelu, tempo.gelu, masks);
    const emb = new Embeddings(
      "embeddings",
      store,
      N,
      cfg.vocabSize,
      cfg.maxPositions,
      cfg.typeVocabSize,
      C,
      cfg.initStd,
      batch,
    );
    let x = node(emb, [], "emb");
    if (arch.embeddingsLayerNorm) x = node(ln("embeddings.ln", N), [x], "emb.ln");
    x = node(drop("embeddings.dropout", [N, C]), [x], "h0");
    const residStd = arch.scaledResidualInit
      ? cfg.initStd / Math.sqrt(2 * cfg.layers)
      : cfg.initStd;
    for (let l = 0; l < cfg.layers; l++) {
      // One block: attention then FFN sub-layers, each `x + dropout(f(x))`. Pre-LN normalises each
      // sub-layer's input (lnK is named after the sub-layer it feeds); post-LN normalises each sum.
      const b = `block${l}`;
      const n = (layer: Layer, inputs: string[], out: string) => node(layer, inputs, `${b}.${out}`);
      const lin = (name: string, i: number, o: number, std = cfg.initStd) =>
        new Linear(`${b}.${name}`, store, N, i, o, { std });
      const attnIn = pre ? n(ln(`${b}.ln1`, N), [x], "ln1") : x;
      const qkv = n(lin("attn.qkv", C, 3 * C), [attnIn], "qkv");
      const causal = arch.attention === "causal";
      const attn = tempo.attentionKind === "fused"
        ? new FusedAttention(`${b}.attn`, { B, T, NH, HS }, p, site++, causal)
        : new Attention(`${b}.attn`, { B, T, NH, HS }, p, site++, causal, tempo.attention, masks);
      const a = n(attn, [qkv, "pad"], "attn");
      const o = n(lin("attn.proj", C, C, residStd), [a], "proj");
      const od = n(drop(`${b}.attn.dropout`, [N, C]), [o], "proj.drop");
      const s1 = n(new Residual(`${b}.res1`, [N, C]), [x, od], "res1");
      const x1 = pre ? s1 : n(ln(`${b}.ln1`, N), [s1], "ln1");
      const ffnIn = pre ? n(ln(`${b}.ln2`, N), [x1], "ln2") : x1;
      const u = n(lin("ffn.fc1", C, F), [ffnIn], "fc1");
      const g = n(gelu(`${b}.gelu`, [N, F]), [u], "gelu");
      const f = n(lin("ffn.fc2", F, C, residStd), [g], "fc2");
      const fd = n(drop(`${b}.ffn.dropout`, [N, C]), [f], "fc2.drop");
      const s2 = n(new Residual(`${b}.res2`, [N, C]), [x1, fd], pre ? "out" : "res2");
      x = pre ? s2 : n(ln(`${b}.ln2`, N), [s2], "out");
    }
    // A pre-LN stack leaves the residual stream unnormalised: one final LayerNorm before the head.
    if (pre) x = node(ln("ln_f", N), [x], "ln_f");
    if (arch.objective === "lm") {
      this.lossRows = N;
      node(new LMLoss("lm_head", store, N, C, emb.wte, false, this.loss, batch), [x], "loss");
    } else {
      if (this.nspLoss) {
        // Next-sentence prediction: pooler (dense + tanh) on each sequence's first token, then a
        // 2-way classifier with its own cross-entropy. Placed before the MLM head so that the MLM
        // loss stays the graph's final node.
        node(new GatherRows("nsp.gather", N, B, C, batch, "clsPositions"), [x], "nsp.cls");
        const pooler = new Linear("nsp.pooler", store, B, C, C, { std: cfg.initStd });
        node(pooler, ["nsp.cls"], "nsp.pooled");
        node(new Tanh("nsp.tanh", [B, C]), ["nsp.pooled"], "nsp.tanh");
        const w = store.create("nsp.classifier.weight", [2, C], {
          kind: "normal",
          std: cfg.initStd,
        }, true);
        const cls = new LMLoss("nsp.classifier", store, B, C, w, true, this.nspLoss, batch, "nsp");
        node(cls, ["nsp.tanh"], "nsp.loss");
      }
      const M = B * maskedPerSeq(T);
      this.lossRows = M;
      node(new GatherRows("mlm.gather", N, M, C, batch), [x], "mlm.x");
      node(new Linear("mlm.dense", store, M, C, C, { std: cfg.initStd }), ["mlm.x"], "mlm.dense");
      node(gelu("mlm.gelu", [M, C]), ["mlm.dense"], "mlm.gelu");
      node(ln("mlm.ln", M), ["mlm.gelu"], "mlm.ln");
      const head = new LMLoss("mlm.decoder", store, M, C, emb.wte, true, this.loss, batch);
      node(head, ["mlm.ln"], "loss");
    }
    if (site > MAX_SITES) throw new TempoError(`too many dropout sites (${site} > ${MAX_SITES})`);
    this.graph = new Graph(nodes, EXTERNALS);
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
    const a = ctx.alloc, enc = ctx.enc;
    const up = (label: string, data: Int32Array, n = data.length) => {
      const t = a.alloc([n], "i32", "workspace", label);
      enc.write(t, data);
      return t;
    };
    const upIndex = (label: string, ids: Int32Array): GatherIndexTensors => {
      const ix = buildGatherIndex(ids);
      return {
        unique: up(`${label}.unique`, padTo(ix.unique, N)),
        starts: up(`${label}.starts`, padTo(ix.starts, N + 1)),
        order: up(`${label}.order`, ix.order),
        count: ix.unique.length,
      };
    };
    for (const id of batch.inputIds) {
      if (id < 0 || id >= cfg.vocabSize) {
        throw new TempoError(
          `token id ${id} is outside ${cfg.name}'s vocabulary of ${cfg.vocabSize}`,
          "the data was tokenized for another vocabulary: re-run `tempo prepare` with this model's tokenizer",
        );
      }
    }
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
    let count = 0;
    for (const t of targets) if (t >= 0) count++;
    const t: BatchTensors = {
      ids: up("batch.ids", batch.inputIds),
      positions: up("batch.positions", positions),
      types: types ? up("batch.types", types) : null,
      // Causal LM batches are never padded; bidirectional attention reads the padding mask.
      padMask: arch.attention === "causal"
        ? null
        : up("batch.pad", batch.attentionMask ?? new Int32Array(N).fill(1)),
      targets: up("batch.targets", targets),
      maskedPositions: lm ? null : up("batch.maskedPositions", batch.maskedPositions!),
      clsPositions: cfg.nsp
        ? up("batch.clsPositions", Int32Array.from({ length: B }, (_, b) => b * T))
        : null,
      nspLabels: cfg.nsp ? up("batch.nspLabels", this.#nspLabels(batch)) : null,
      idsIndex: upIndex("batch.ids.index", batch.inputIds),
      positionsIndex: upIndex("batch.positions.index", positions),
      typesIndex: types ? upIndex("batch.types.index", types) : null,
      targetCount: count,
    };
    return t;
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
    const b = this.#batch;
    if (!b) return;
    const r = (t: Tensor | null) => t && ctx.alloc.release(t);
    const ri = (ix: GatherIndexTensors | null) => {
      if (ix) r(ix.unique), r(ix.starts), r(ix.order);
    };
    r(b.ids), r(b.positions), r(b.types), r(b.padMask), r(b.targets), r(b.maskedPositions);
    r(b.clsPositions ?? null), r(b.nspLabels ?? null);
    ri(b.idsIndex), ri(b.positionsIndex), ri(b.typesIndex);
    this.#batch = null;
  }
}

function padTo(a: Int32Array, n: number): Int32Array {
  if (a.length === n) return a;
  const out = new Int32Array(n);
  out.set(a);
  return out;
}

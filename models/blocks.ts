/**
 * The one block builder: embeddings, L transformer blocks and (pre-LN) the final LayerNorm as a
 * flat node list, from the architecture's descriptor (arch.ts). The training model
 * (transformer.ts) adds its loss heads to it; the inference models (inference.ts) build the same
 * trunk over the same parameters, with the attention core swapped for the KV-cache one when
 * decoding, and add logits heads. Layer creation order is node order, and parameter order
 * (checkpoints, seeded initialisation) and dropout sites (RNG streams) follow from it.
 * @module
 */
import type { FloatDType } from "../core/dtype.ts";
import { TempoError } from "../core/errors.ts";
import { MAX_SITES } from "../core/step.ts";
import { Attention, type AttentionShape } from "../layers/attention.ts";
import { FusedAttention } from "../layers/fused_attention.ts";
import type { BatchTensors } from "../layers/batch_tensors.ts";
import { Dropout } from "../layers/dropout.ts";
import { Embeddings } from "../layers/embedding.ts";
import { Gelu } from "../layers/gelu.ts";
import type { Layer } from "../layers/layer.ts";
import { LayerNorm } from "../layers/layernorm.ts";
import { Linear } from "../layers/linear.ts";
import type { ParamStore } from "../layers/params.ts";
import { Residual } from "../layers/residual.ts";
import type { MaskStorage, TempoOptions } from "../layers/tempo_options.ts";
import { archOf } from "./arch.ts";
import type { ModelConfig } from "./config.ts";
import type { Node } from "./graph.ts";

/** Everything an attention core of one block is built from. */
export interface AttentionSite {
  /** `block3.attn`. */
  name: string;
  /** The block's index. */
  block: number;
  /** B, T, NH, HS. */
  shape: AttentionShape;
  /** Dropout probability on P. */
  p: number;
  /** Its dropout RNG site. */
  site: number;
  /** Causal (GPT-2) or bidirectional. */
  causal: boolean;
  /** Tempo attention on. */
  tempo: boolean;
  /** Mask storage. */
  masks: MaskStorage;
  /** Storage of its inputs, outputs, what it keeps and the gradients (the run's precision). */
  dtype: FloatDType;
}

/** Makes a block's attention core. */
export type AttentionFactory = (a: AttentionSite) => Layer;

/** The training attention core (layers/attention.ts). */
export const standardAttention: AttentionFactory = (a) =>
  new Attention(a.name, a.shape, a.p, a.site, a.causal, a.tempo, a.masks, a.dtype);

/** The fused attention core (layers/fused_attention.ts): never stores the probabilities. */
export const fusedAttention: AttentionFactory = (a) =>
  new FusedAttention(a.name, a.shape, a.p, a.site, a.causal, a.dtype);

/** The training attention core that `tempo.attentionKind` names. */
export function attentionOf(tempo: TempoOptions): AttentionFactory {
  return tempo.attentionKind === "fused" ? fusedAttention : standardAttention;
}

/** What a node list is built for. */
export interface BlockSpec {
  /** The model. */
  cfg: ModelConfig;
  /** B sequences. */
  B: number;
  /** T positions per sequence in this node list (N = B*T rows). */
  T: number;
  /** Tempo switches. */
  tempo: TempoOptions;
  /** Where parameters are created (or, for inference, found again by name). */
  store: ParamStore;
  /** The current batch's device tensors. */
  batch: () => BatchTensors;
  /** The attention core of each block; default `attentionOf(tempo)`. */
  attention?: AttentionFactory;
  /** Every LayerNorm made is appended here (the gamma guard watches them); default a new list. */
  layerNorms?: LayerNorm[];
  /**
   * Storage of the activations and their gradients (`--precision`; default f32). Parameters
   * and their gradients are f32 whatever it is.
   */
  dtype?: FloatDType;
}

/** Builds a node list: the trunk (`trunk()`), then the caller's heads with the same helpers. */
export class BlockBuilder {
  /** The nodes, in forward order. */
  readonly nodes: Node[] = [];
  /** Every LayerNorm made, in order. */
  readonly layerNorms: LayerNorm[];
  /** Storage of the activations and their gradients. */
  readonly dtype: FloatDType;
  #site = 0;

  constructor(readonly spec: BlockSpec) {
    this.layerNorms = spec.layerNorms ?? [];
    this.dtype = spec.dtype ?? "f32";
  }

  /** Dropout sites used so far. */
  get sites(): number {
    return this.#site;
  }

  /** Append `output = layer(inputs)`; returns the output's name. */
  node(layer: Layer, inputs: string[], output: string): string {
    this.nodes.push({ layer, inputs, output });
    return output;
  }

  /** A LayerNorm over `rows` rows of C. */
  ln(name: string, rows: number): LayerNorm {
    const { cfg, store, tempo } = this.spec;
    const l = new LayerNorm(
      name,
      store,
      rows,
      cfg.hidden,
      cfg.layerNormEps,
      tempo.layernorm,
      this.dtype,
    );
    this.layerNorms.push(l);
    return l;
  }

  /** Dropout at the next RNG site. */
  drop(name: string, shape: number[]): Dropout {
    return new Dropout(
      name,
      shape,
      this.spec.cfg.dropout,
      this.#site++,
      this.spec.tempo.masks,
      this.dtype,
    );
  }

  /** The architecture's GELU. */
  gelu(name: string, shape: number[]): Gelu {
    const { cfg, tempo } = this.spec;
    return new Gelu(name, shape, archOf(cfg).gelu, tempo.gelu, tempo.masks, this.dtype);
  }

  /**
   * Embeddings, the blocks and, for a pre-LN stack, the final LayerNorm. Returns the name of the
   * last hidden state [N, C] and the embeddings (whose word table the heads tie to).
   */
  trunk(): { x: string; embeddings: Embeddings } {
    const { cfg, B, T, store, batch } = this.spec;
    const attention = this.spec.attention ?? attentionOf(this.spec.tempo);
    const C = cfg.hidden, NH = cfg.heads, HS = C / NH, F = cfg.ffn, N = B * T;
    const arch = archOf(cfg), pre = arch.norm === "pre";
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
      this.dtype,
    );
    let x = this.node(emb, [], "emb");
    if (arch.embeddingsLayerNorm) x = this.node(this.ln("embeddings.ln", N), [x], "emb.ln");
    x = this.node(this.drop("embeddings.dropout", [N, C]), [x], "h0");
    const residStd = arch.scaledResidualInit
      ? cfg.initStd / Math.sqrt(2 * cfg.layers)
      : cfg.initStd;
    for (let l = 0; l < cfg.layers; l++) {
      // One block: attention then FFN sub-layers, each `x + dropout(f(x))`. Pre-LN normalises each
      // sub-layer's input (lnK is named after the sub-layer it feeds); post-LN normalises each sum.
      const b = `block${l}`;
      const n = (layer: Layer, inputs: string[], out: string) =>
        this.node(layer, inputs, `${b}.${out}`);
      const lin = (name: string, i: number, o: number, std = cfg.initStd) =>
        new Linear(`${b}.${name}`, store, N, i, o, { std, dtype: this.dtype });
      const attnIn = pre ? n(this.ln(`${b}.ln1`, N), [x], "ln1") : x;
      const qkv = n(lin("attn.qkv", C, 3 * C), [attnIn], "qkv");
      const attn = attention({
        name: `${b}.attn`,
        block: l,
        shape: { B, T, NH, HS },
        p: cfg.dropout,
        site: this.#site++,
        causal: arch.attention === "causal",
        tempo: this.spec.tempo.attention,
        masks: this.spec.tempo.masks,
        dtype: this.dtype,
      });
      const a = n(attn, [qkv, "pad"], "attn");
      const o = n(lin("attn.proj", C, C, residStd), [a], "proj");
      const od = n(this.drop(`${b}.attn.dropout`, [N, C]), [o], "proj.drop");
      const s1 = n(new Residual(`${b}.res1`, [N, C], this.dtype), [x, od], "res1");
      const x1 = pre ? s1 : n(this.ln(`${b}.ln1`, N), [s1], "ln1");
      const ffnIn = pre ? n(this.ln(`${b}.ln2`, N), [x1], "ln2") : x1;
      const u = n(lin("ffn.fc1", C, F), [ffnIn], "fc1");
      const g = n(this.gelu(`${b}.gelu`, [N, F]), [u], "gelu");
      const f = n(lin("ffn.fc2", F, C, residStd), [g], "fc2");
      const fd = n(this.drop(`${b}.ffn.dropout`, [N, C]), [f], "fc2.drop");
      const s2 = n(new Residual(`${b}.res2`, [N, C], this.dtype), [x1, fd], pre ? "out" : "res2");
      x = pre ? s2 : n(this.ln(`${b}.ln2`, N), [s2], "out");
    }
    // A pre-LN stack leaves the residual stream unnormalised: one final LayerNorm before the head.
    if (pre) x = this.node(this.ln("ln_f", N), [x], "ln_f");
    return { x, embeddings: emb };
  }

  /** Throw unless the dropout sites fit the RNG stream layout. */
  checkSites(): void {
    if (this.#site > MAX_SITES) {
      throw new TempoError(`too many dropout sites (${this.#site} > ${MAX_SITES})`);
    }
  }
}

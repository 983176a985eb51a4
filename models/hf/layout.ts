/**
 * The Hugging Face Transformers layout of each architecture: every tensor `save_pretrained`
 * writes for BertForMaskedLM (BertForPreTraining with NSP), RobertaForMaskedLM and
 * GPT2LMHeadModel, its shape, and how it is made from tempo's parameters. Verified against
 * modeling_bert.py, modeling_roberta.py and modeling_gpt2.py (huggingface/transformers) and
 * published checkpoints' key lists; models/testdata/hf_tensors.json lists the names, shapes and
 * dtypes for bert-base, roberta-base and gpt2, and the tests hold this layout to it.
 *
 * - Linear weights: tempo stores [out, in], as torch's nn.Linear (BERT, RoBERTa: copied). GPT-2's
 *   Conv1D stores [in, out]: transposed.
 * - Attention: tempo's fused qkv [3C, C] has rows [Q | K | V], heads contiguous in each, which is
 *   GPT-2's c_attn column order (split(n_embd) then view(NH, HS)), and BERT's query, key and
 *   value rows in order.
 * - Tied weights: the decoder weight (and BERT/RoBERTa's decoder bias) equal the word embedding
 *   (and the head bias); save_pretrained writes one copy, under the name in `tensors`, and drops
 *   the names in `tied` (GPT-2 `lm_head.weight`, BERT `cls.predictions.decoder.*`, RoBERTa
 *   `lm_head.decoder.*`).
 * - RoBERTa's positions: HF numbers real tokens from padding_idx + 1 (`create_position_ids_from_
 *   input_ids`; padding_idx = pad_token_id, 1 for roberta-base), so tempo's position row t is
 *   HF's row pad + 1 + t; the rows below are zero (HF's padding row 1 is zero-initialised).
 * @module
 */
import { archOf } from "../arch.ts";
import type { ModelConfig } from "../config.ts";

/** How one HF tensor relates to tempo's parameters. */
export type HfRule =
  /** The same values and layout. */
  | { kind: "copy"; tempo: string }
  /** The transpose of a 2-D tempo parameter (tempo [out, in] -> Conv1D [in, out]). */
  | { kind: "transpose"; tempo: string }
  /** Rows [from, from + count) of the tempo parameter (the q, k or v part of qkv). */
  | { kind: "rows"; tempo: string; from: number; count: number }
  /** Position rows: HF row offset + t is tempo row t; rows below offset are zero. */
  | { kind: "positions"; tempo: string; offset: number };

/** One tensor of the HF checkpoint. */
export interface HfTensor {
  /** Its name in model.safetensors. */
  name: string;
  /** Its shape there. */
  shape: number[];
  /** How it is made from tempo's parameters (and back). */
  rule: HfRule;
}

/** An architecture's HF checkpoint layout for one config. */
export interface HfLayout {
  /** config.json `model_type`. */
  modelType: "bert" | "roberta" | "gpt2";
  /** config.json `architectures[0]`. */
  architecture: string;
  /** Every tensor written, in module order. */
  tensors: HfTensor[];
  /** Names tied to a written tensor (not written; equal to it when another tool writes them). */
  tied: Record<string, string>;
  /** Names prefixes that HF checkpoints of the base model use instead (`transformer.`, ...). */
  basePrefix: string;
}

/** Facts the layout needs beyond the config. */
export interface HfLayoutOptions {
  /** The padding id (RoBERTa's position offset is pad + 1); null when the tokenizer has none. */
  padId: number | null;
  /**
   * RoBERTa: tempo positions that get an HF row (default maxPositions - 2, tempo's presets
   * reserving two rows as HF's roberta-base does; the exporter raises it to the run's sequence
   * length when that is longer).
   */
  positions?: number;
}

/** The HF layout of `cfg` (see the module doc). */
export function hfLayout(cfg: ModelConfig, o: HfLayoutOptions): HfLayout {
  const arch = archOf(cfg);
  if (arch.objective === "lm") return gpt2Layout(cfg);
  return cfg.arch === "roberta" ? robertaLayout(cfg, o) : bertLayout(cfg);
}

/** RoBERTa's first position row: pad + 1. */
export function robertaOffset(padId: number | null): number {
  return (padId ?? 1) + 1;
}

function gpt2Layout(cfg: ModelConfig): HfLayout {
  const C = cfg.hidden, F = cfg.ffn, V = cfg.vocabSize, P = cfg.maxPositions;
  const t: HfTensor[] = [];
  const copy = (name: string, shape: number[], tempo: string) =>
    t.push({ name, shape, rule: { kind: "copy", tempo } });
  const tr = (name: string, shape: number[], tempo: string) =>
    t.push({ name, shape, rule: { kind: "transpose", tempo } });
  copy("transformer.wte.weight", [V, C], "embeddings.word");
  copy("transformer.wpe.weight", [P, C], "embeddings.position");
  for (let l = 0; l < cfg.layers; l++) {
    const h = `transformer.h.${l}`, b = `block${l}`;
    copy(`${h}.ln_1.weight`, [C], `${b}.ln1.weight`);
    copy(`${h}.ln_1.bias`, [C], `${b}.ln1.bias`);
    tr(`${h}.attn.c_attn.weight`, [C, 3 * C], `${b}.attn.qkv.weight`);
    copy(`${h}.attn.c_attn.bias`, [3 * C], `${b}.attn.qkv.bias`);
    tr(`${h}.attn.c_proj.weight`, [C, C], `${b}.attn.proj.weight`);
    copy(`${h}.attn.c_proj.bias`, [C], `${b}.attn.proj.bias`);
    copy(`${h}.ln_2.weight`, [C], `${b}.ln2.weight`);
    copy(`${h}.ln_2.bias`, [C], `${b}.ln2.bias`);
    tr(`${h}.mlp.c_fc.weight`, [C, F], `${b}.ffn.fc1.weight`);
    copy(`${h}.mlp.c_fc.bias`, [F], `${b}.ffn.fc1.bias`);
    tr(`${h}.mlp.c_proj.weight`, [F, C], `${b}.ffn.fc2.weight`);
    copy(`${h}.mlp.c_proj.bias`, [C], `${b}.ffn.fc2.bias`);
  }
  copy("transformer.ln_f.weight", [C], "ln_f.weight");
  copy("transformer.ln_f.bias", [C], "ln_f.bias");
  return {
    modelType: "gpt2",
    architecture: "GPT2LMHeadModel",
    tensors: t,
    tied: { "lm_head.weight": "transformer.wte.weight" },
    basePrefix: "transformer.",
  };
}

/** BERT's and RoBERTa's shared encoder under `prefix` (`bert` or `roberta`). */
function encoderTensors(cfg: ModelConfig, prefix: string, positions: HfTensor): HfTensor[] {
  const C = cfg.hidden, F = cfg.ffn, V = cfg.vocabSize;
  const t: HfTensor[] = [];
  const copy = (name: string, shape: number[], tempo: string) =>
    t.push({ name: `${prefix}.${name}`, shape, rule: { kind: "copy", tempo } });
  copy("embeddings.word_embeddings.weight", [V, C], "embeddings.word");
  t.push(positions);
  copy("embeddings.token_type_embeddings.weight", [cfg.typeVocabSize, C], "embeddings.token_type");
  copy("embeddings.LayerNorm.weight", [C], "embeddings.ln.weight");
  copy("embeddings.LayerNorm.bias", [C], "embeddings.ln.bias");
  for (let l = 0; l < cfg.layers; l++) {
    const e = `encoder.layer.${l}`, b = `block${l}`;
    ["query", "key", "value"].forEach((w, i) => {
      const name = `${prefix}.${e}.attention.self.${w}`;
      const rows = { from: i * C, count: C };
      t.push({
        name: `${name}.weight`,
        shape: [C, C],
        rule: { kind: "rows", tempo: `${b}.attn.qkv.weight`, ...rows },
      });
      t.push({
        name: `${name}.bias`,
        shape: [C],
        rule: { kind: "rows", tempo: `${b}.attn.qkv.bias`, ...rows },
      });
    });
    copy(`${e}.attention.output.dense.weight`, [C, C], `${b}.attn.proj.weight`);
    copy(`${e}.attention.output.dense.bias`, [C], `${b}.attn.proj.bias`);
    copy(`${e}.attention.output.LayerNorm.weight`, [C], `${b}.ln1.weight`);
    copy(`${e}.attention.output.LayerNorm.bias`, [C], `${b}.ln1.bias`);
    copy(`${e}.intermediate.dense.weight`, [F, C], `${b}.ffn.fc1.weight`);
    copy(`${e}.intermediate.dense.bias`, [F], `${b}.ffn.fc1.bias`);
    copy(`${e}.output.dense.weight`, [C, F], `${b}.ffn.fc2.weight`);
    copy(`${e}.output.dense.bias`, [C], `${b}.ffn.fc2.bias`);
    copy(`${e}.output.LayerNorm.weight`, [C], `${b}.ln2.weight`);
    copy(`${e}.output.LayerNorm.bias`, [C], `${b}.ln2.bias`);
  }
  return t;
}

function bertLayout(cfg: ModelConfig): HfLayout {
  const C = cfg.hidden, V = cfg.vocabSize;
  const positions: HfTensor = {
    name: "bert.embeddings.position_embeddings.weight",
    shape: [cfg.maxPositions, C],
    rule: { kind: "copy", tempo: "embeddings.position" },
  };
  const t = encoderTensors(cfg, "bert", positions);
  const copy = (name: string, shape: number[], tempo: string) =>
    t.push({ name, shape, rule: { kind: "copy", tempo } });
  if (cfg.nsp) {
    copy("bert.pooler.dense.weight", [C, C], "nsp.pooler.weight");
    copy("bert.pooler.dense.bias", [C], "nsp.pooler.bias");
  }
  copy("cls.predictions.bias", [V], "mlm.decoder.bias");
  copy("cls.predictions.transform.dense.weight", [C, C], "mlm.dense.weight");
  copy("cls.predictions.transform.dense.bias", [C], "mlm.dense.bias");
  copy("cls.predictions.transform.LayerNorm.weight", [C], "mlm.ln.weight");
  copy("cls.predictions.transform.LayerNorm.bias", [C], "mlm.ln.bias");
  if (cfg.nsp) {
    copy("cls.seq_relationship.weight", [2, C], "nsp.classifier.weight");
    copy("cls.seq_relationship.bias", [2], "nsp.classifier.bias");
  }
  return {
    modelType: "bert",
    architecture: cfg.nsp ? "BertForPreTraining" : "BertForMaskedLM",
    tensors: t,
    tied: {
      "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
      "cls.predictions.decoder.bias": "cls.predictions.bias",
    },
    basePrefix: "bert.",
  };
}

function robertaLayout(cfg: ModelConfig, o: HfLayoutOptions): HfLayout {
  const C = cfg.hidden, V = cfg.vocabSize;
  const offset = robertaOffset(o.padId);
  const rows = offset + (o.positions ?? Math.max(1, cfg.maxPositions - 2));
  const positions: HfTensor = {
    name: "roberta.embeddings.position_embeddings.weight",
    shape: [rows, C],
    rule: { kind: "positions", tempo: "embeddings.position", offset },
  };
  const t = encoderTensors(cfg, "roberta", positions);
  const copy = (name: string, shape: number[], tempo: string) =>
    t.push({ name, shape, rule: { kind: "copy", tempo } });
  copy("lm_head.bias", [V], "mlm.decoder.bias");
  copy("lm_head.dense.weight", [C, C], "mlm.dense.weight");
  copy("lm_head.dense.bias", [C], "mlm.dense.bias");
  copy("lm_head.layer_norm.weight", [C], "mlm.ln.weight");
  copy("lm_head.layer_norm.bias", [C], "mlm.ln.bias");
  return {
    modelType: "roberta",
    architecture: "RobertaForMaskedLM",
    tensors: t,
    tied: {
      "lm_head.decoder.weight": "roberta.embeddings.word_embeddings.weight",
      "lm_head.decoder.bias": "lm_head.bias",
    },
    basePrefix: "roberta.",
  };
}

/**
 * config.json both ways: the Hugging Face configuration of a tempo model (BertConfig,
 * RobertaConfig, GPT2Config field names, from configuration_bert.py / configuration_roberta.py /
 * configuration_gpt2.py), and, for a folder tempo starts from, the tempo config it describes and
 * how it differs from the chosen one.
 * @module
 */
import { archOf } from "../arch.ts";
import { type ModelConfig, PRESETS } from "../config.ts";
import { type HfLayout, robertaOffset } from "./layout.ts";

/** Special token ids of the model's tokenizer (null where it has none). */
export interface HfSpecials {
  /** Padding ([PAD], <pad>). */
  padId: number | null;
  /** Sequence start (<s>; GPT-2: <|endoftext|>). */
  bosId: number | null;
  /** Sequence end (</s>, [SEP]; GPT-2: <|endoftext|>). */
  eosId: number | null;
}

/** A config.json object. */
export type HfConfigJson = Record<string, unknown>;

/** The config.json of `cfg` written with `layout`. */
export function hfConfig(cfg: ModelConfig, layout: HfLayout, s: HfSpecials): HfConfigJson {
  const common = {
    architectures: [layout.architecture],
    model_type: layout.modelType,
    vocab_size: cfg.vocabSize,
    initializer_range: cfg.initStd,
    tie_word_embeddings: true,
    torch_dtype: "float32",
  };
  if (layout.modelType === "gpt2") {
    return {
      ...common,
      n_positions: cfg.maxPositions,
      n_ctx: cfg.maxPositions,
      n_embd: cfg.hidden,
      n_layer: cfg.layers,
      n_head: cfg.heads,
      n_inner: cfg.ffn,
      activation_function: "gelu_new", // the tanh approximation, tempo's GPT-2 GELU
      resid_pdrop: cfg.dropout,
      embd_pdrop: cfg.dropout,
      attn_pdrop: cfg.dropout,
      layer_norm_epsilon: cfg.layerNormEps,
      scale_attn_weights: true,
      use_cache: true,
      bos_token_id: s.bosId,
      eos_token_id: s.eosId,
    };
  }
  const positions = layout.tensors.find((t) => t.name.endsWith("position_embeddings.weight"))!;
  return {
    ...common,
    hidden_size: cfg.hidden,
    num_hidden_layers: cfg.layers,
    num_attention_heads: cfg.heads,
    intermediate_size: cfg.ffn,
    hidden_act: "gelu", // the exact erf form
    hidden_dropout_prob: cfg.dropout,
    attention_probs_dropout_prob: cfg.dropout,
    max_position_embeddings: positions.shape[0],
    type_vocab_size: cfg.typeVocabSize,
    layer_norm_eps: cfg.layerNormEps,
    position_embedding_type: "absolute",
    pad_token_id: s.padId,
    ...(layout.modelType === "roberta" ? { bos_token_id: s.bosId, eos_token_id: s.eosId } : {}),
  };
}

/** The GELU forms HF names, by tempo's form. */
const ACTIVATIONS: Record<string, string[]> = {
  erf: ["gelu"],
  tanh: ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"],
};

/** The tempo config fields a config.json fixes, and its architecture. */
export interface FromHfConfig {
  /** model_type. */
  modelType: string;
  /** The fields it fixes. */
  fields: Partial<ModelConfig>;
  /** Its activation function's name. */
  activation: string | undefined;
}

const int = (v: unknown) => (typeof v === "number" && Number.isInteger(v) ? v : undefined);
const num = (v: unknown) => (typeof v === "number" ? v : undefined);

/** What a config.json says about the model (fields it lacks are left out). */
export function fromHfConfig(j: HfConfigJson): FromHfConfig {
  const modelType = String(j.model_type ?? "");
  const f: Partial<ModelConfig> = {};
  const set = <K extends keyof ModelConfig>(k: K, v: ModelConfig[K] | undefined) => {
    if (v !== undefined) f[k] = v;
  };
  set("vocabSize", int(j.vocab_size));
  if (modelType === "gpt2") {
    set("maxPositions", int(j.n_positions));
    set("hidden", int(j.n_embd));
    set("layers", int(j.n_layer));
    set("heads", int(j.n_head));
    const hidden = int(j.n_embd);
    set("ffn", int(j.n_inner) ?? (hidden !== undefined ? 4 * hidden : undefined));
    set("layerNormEps", num(j.layer_norm_epsilon));
    return { modelType, fields: f, activation: j.activation_function as string | undefined };
  }
  const rows = int(j.max_position_embeddings);
  const offset = robertaOffset(int(j.pad_token_id) ?? null);
  set("maxPositions", modelType === "roberta" && rows !== undefined ? rows - offset + 2 : rows);
  set("hidden", int(j.hidden_size));
  set("layers", int(j.num_hidden_layers));
  set("heads", int(j.num_attention_heads));
  set("ffn", int(j.intermediate_size));
  set("typeVocabSize", int(j.type_vocab_size));
  set("layerNormEps", num(j.layer_norm_eps));
  return { modelType, fields: f, activation: j.hidden_act as string | undefined };
}

/** The fields compared (positions are mapped row by row instead; see convert.ts). */
const COMPARED: (keyof ModelConfig)[] = [
  "vocabSize",
  "layers",
  "hidden",
  "heads",
  "ffn",
  "typeVocabSize",
  "layerNormEps",
];

/**
 * How a config.json differs from `cfg`: one phrase per difference (model_type, activation, and
 * the compared fields), empty when it describes the same model.
 */
export function configDifferences(j: HfConfigJson, cfg: ModelConfig): string[] {
  const h = fromHfConfig(j), out: string[] = [];
  if (h.modelType !== cfg.arch) {
    out.push(`model_type ${h.modelType || "(none)"} (tempo's ${cfg.name} is ${cfg.arch})`);
    return out;
  }
  const form = archOf(cfg).gelu;
  if (h.activation !== undefined && !ACTIVATIONS[form].includes(h.activation)) {
    out.push(`activation ${h.activation} (tempo's ${cfg.arch} uses ${ACTIVATIONS[form][0]})`);
  }
  for (const k of COMPARED) {
    const v = h.fields[k];
    if (v !== undefined && v !== cfg[k]) out.push(`${k} ${v} (tempo's ${cfg[k]})`);
  }
  return out;
}

/**
 * The preset of the config.json's architecture nearest to it and the overrides that make it the
 * same model: what to pass as `--model` and `--config`. Null when its architecture is not
 * tempo's.
 */
export function matchingPreset(
  j: HfConfigJson,
): { model: string; overrides: Partial<ModelConfig> } | null {
  const h = fromHfConfig(j);
  let best: { model: string; overrides: Partial<ModelConfig> } | null = null;
  for (const [name, p] of Object.entries(PRESETS)) {
    if (p.arch !== h.modelType) continue;
    const overrides: Partial<ModelConfig> = {};
    for (const k of [...COMPARED, "maxPositions"] as (keyof ModelConfig)[]) {
      const v = h.fields[k];
      if (v !== undefined && v !== p[k]) (overrides as Record<string, unknown>)[k] = v;
    }
    const n = Object.keys(overrides).length;
    if (!best || n < Object.keys(best.overrides).length) best = { model: name, overrides };
  }
  return best;
}

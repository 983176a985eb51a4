/**
 * Model configurations and named presets. Shapes: C hidden, NH heads, HS = C / NH, F = 4C
 * (unless `ffn` says otherwise), V vocabulary, L layers, maxT positions.
 * @module
 */
import { TempoError } from "../core/errors.ts";
import { archOf, ARCHS } from "./arch.ts";

/** Architecture family. */
export type Arch = "bert" | "gpt2" | "roberta";

/** A transformer configuration. */
export interface ModelConfig {
  /** Preset or user name. */
  name: string;
  /** bert: post-LN encoder + MLM head; roberta: same, dynamic masking, no NSP; gpt2: pre-LN causal
   * LM. What each one means is its descriptor (`ARCHS` in arch.ts). */
  arch: Arch;
  /** Tokenizer the vocabulary belongs to: gpt2 | bert | roberta | bytes. */
  tokenizer: string;
  /** V: vocabulary size. */
  vocabSize: number;
  /** Positions (the largest sequence length). */
  maxPositions: number;
  /** L: number of blocks. */
  layers: number;
  /** C: hidden size. */
  hidden: number;
  /** NH: attention heads (C must be divisible by NH). */
  heads: number;
  /** F: feed-forward width (4C for every preset). */
  ffn: number;
  /** Token types (segments); 0 for GPT-2. */
  typeVocabSize: number;
  /** Dropout probability on embeddings, attention probabilities and residual branches. */
  dropout: number;
  /** LayerNorm epsilon. */
  layerNormEps: number;
  /** Std of the normal initialisation. */
  initStd: number;
  /** BERT's next-sentence prediction head (pooler + 2-way classifier); loss = MLM + NSP. */
  nsp: boolean;
}

const BERT_BASE: ModelConfig = {
  name: "bert-base",
  arch: "bert",
  tokenizer: "bert",
  vocabSize: 30522,
  maxPositions: 512,
  layers: 12,
  hidden: 768,
  heads: 12,
  ffn: 3072,
  typeVocabSize: 2,
  dropout: 0.1,
  layerNormEps: 1e-12,
  initStd: 0.02,
  nsp: false,
};

const GPT2: ModelConfig = {
  name: "gpt2",
  arch: "gpt2",
  tokenizer: "gpt2",
  vocabSize: 50257,
  maxPositions: 1024,
  layers: 12,
  hidden: 768,
  heads: 12,
  ffn: 3072,
  typeVocabSize: 0,
  dropout: 0.1,
  layerNormEps: 1e-5,
  initStd: 0.02,
  nsp: false,
};

const ROBERTA_BASE: ModelConfig = {
  ...BERT_BASE,
  name: "roberta-base",
  arch: "roberta",
  tokenizer: "roberta",
  vocabSize: 50265,
  maxPositions: 514,
  typeVocabSize: 1,
  layerNormEps: 1e-5,
};

/** Named presets. The tiny ones are for tests and the default demo. */
export const PRESETS: Readonly<Record<string, ModelConfig>> = {
  "bert-base": BERT_BASE,
  "bert-large": {
    ...BERT_BASE,
    name: "bert-large",
    layers: 24,
    hidden: 1024,
    heads: 16,
    ffn: 4096,
  },
  "roberta-base": ROBERTA_BASE,
  "roberta-large": {
    ...ROBERTA_BASE,
    name: "roberta-large",
    layers: 24,
    hidden: 1024,
    heads: 16,
    ffn: 4096,
  },
  "gpt2": GPT2,
  "gpt2-medium": { ...GPT2, name: "gpt2-medium", layers: 24, hidden: 1024, heads: 16, ffn: 4096 },
  "bert-tiny": {
    ...BERT_BASE,
    name: "bert-tiny",
    tokenizer: "bert",
    layers: 2,
    hidden: 64,
    heads: 4,
    ffn: 256,
    maxPositions: 128,
  },
  "gpt2-tiny": {
    ...GPT2,
    name: "gpt2-tiny",
    tokenizer: "bytes",
    vocabSize: 260,
    layers: 2,
    hidden: 64,
    heads: 4,
    ffn: 256,
    maxPositions: 128,
  },
  "roberta-tiny": {
    ...ROBERTA_BASE,
    name: "roberta-tiny",
    tokenizer: "bytes",
    vocabSize: 260,
    layers: 2,
    hidden: 64,
    heads: 4,
    ffn: 256,
    maxPositions: 130,
  },
};

const KEYS = Object.keys(BERT_BASE) as (keyof ModelConfig)[];

/**
 * Resolve a preset name, or a preset plus overrides (e.g. from a JSON config file). Unknown keys
 * and inconsistent values are rejected with a message that names them.
 */
export function resolveConfig(
  preset: string,
  overrides: Record<string, unknown> = {},
): ModelConfig {
  const base = Object.hasOwn(PRESETS, preset) ? PRESETS[preset] : undefined;
  if (!base) {
    const names = Object.keys(PRESETS);
    throw new TempoError(
      `unknown model '${preset}'`,
      `${didYouMean(preset, names)}choose one of: ${names.join(", ")}`,
    );
  }
  for (const k of Object.keys(overrides)) {
    if (!(KEYS as string[]).includes(k)) {
      throw new TempoError(
        `unknown config key '${k}'`,
        `${didYouMean(k, KEYS)}valid keys: ${KEYS.join(", ")}`,
      );
    }
  }
  const cfg = { ...base, ...overrides } as ModelConfig;
  validateConfig(cfg);
  return cfg;
}

/** Throw a TempoError naming the first inconsistent field. */
export function validateConfig(cfg: ModelConfig): void {
  const ints: (keyof ModelConfig)[] = [
    "vocabSize",
    "maxPositions",
    "layers",
    "hidden",
    "heads",
    "ffn",
  ];
  for (const k of ints) {
    const v = cfg[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
      throw new TempoError(`config '${k}' must be a positive integer, got ${v}`);
    }
  }
  if (!Object.hasOwn(ARCHS, cfg.arch)) {
    throw new TempoError(
      `config 'arch' must be one of ${Object.keys(ARCHS).join(", ")}, got ${cfg.arch}`,
    );
  }
  if (cfg.hidden % cfg.heads !== 0) {
    throw new TempoError(`hidden ${cfg.hidden} is not divisible by heads ${cfg.heads}`);
  }
  if (typeof cfg.nsp !== "boolean") throw new TempoError(`config 'nsp' must be true or false`);
  if (cfg.nsp && !archOf(cfg).nspAllowed) {
    throw new TempoError(`next-sentence prediction (nsp) is BERT's task; ${cfg.arch} has none`);
  }
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) {
    throw new TempoError(`dropout must be in [0, 1), got ${cfg.dropout}`);
  }
}

/** Parameter count of a config (weights and biases; tied LM head counted once). */
export function parameterCount(cfg: ModelConfig): number {
  const C = cfg.hidden, F = cfg.ffn, V = cfg.vocabSize;
  const emb = V * C + cfg.maxPositions * C + cfg.typeVocabSize * C;
  const block = 3 * C * C + 3 * C + C * C + C + C * F + F + F * C + C + 4 * C;
  const arch = archOf(cfg);
  // LM: the final LayerNorm (pre-LN); MLM: dense + LayerNorm + output bias. The decoder is tied.
  const head = arch.objective === "lm" ? 2 * C : C * C + C + 2 * C + V;
  const embLn = arch.embeddingsLayerNorm ? 2 * C : 0;
  const nsp = cfg.nsp ? C * C + C + 2 * C + 2 : 0;
  return emb + embLn + cfg.layers * block + head + nsp;
}

/** `did you mean 'x'? ` for the candidates nearest to `name` (edit distance), or "". */
function didYouMean(name: string, candidates: readonly string[]): string {
  let best: string[] = [], bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    // Near enough: at most 3 edits, and most of the candidate survives them.
    if (d > 3 || (c.length - d) / c.length <= 0.4) continue;
    if (d < bestD) [best, bestD] = [[c], d];
    else if (d === bestD) best.push(c);
  }
  return best.length ? `did you mean ${best.map((b) => `'${b}'`).join(" or ")}? ` : "";
}

/** Optimal string alignment distance (insertions, deletions, substitutions, transpositions). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * Masked-LM batch sources for BERT (static masks) and RoBERTa (dynamic masks).
 * @module
 */
import type { BatchSource } from "../core/train/batch.ts";
import { MlmLoader } from "../datasets/mlm_loader.ts";
import type { Tokenizer } from "../datasets/tokenizer.ts";
import type { TokenStream } from "../datasets/token_stream.ts";
import type { ModelConfig } from "../models/config.ts";

/** BERT: static masking; RoBERTa: a new mask every step. */
export function makeMlmSource(
  cfg: ModelConfig,
  tokenizer: Tokenizer,
  tokens: TokenStream,
  B: number,
  T: number,
  seed: number,
  shuffle: boolean,
): BatchSource {
  return new MlmLoader({
    tokens,
    tokenizer,
    B,
    T,
    seed,
    shuffle,
    masking: cfg.arch === "roberta" ? "dynamic" : "static",
    maskProb: 0.15,
    nsp: cfg.nsp,
  });
}

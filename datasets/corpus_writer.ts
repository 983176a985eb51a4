/**
 * Documents -> a train shard and a validation shard. Tokens stream to the train shard as they
 * come; `finish()` moves the last `valFraction` of all tokens to the validation shard, so the
 * split is exact ("the last 5% of tokens") without holding the corpus in memory. Each document is
 * followed by the tokenizer's end-of-document id (`<|endoftext|>`, `[SEP]`, `</s>`).
 *
 * @module
 */

import { DatasetError } from "./errors.ts";
import { ShardWriter } from "./shard_writer.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** Where a CorpusWriter writes and how it splits. */
export interface CorpusWriterOptions {
  /** Train shard path. */
  trainPath: string;
  /** Validation shard path (unused when valFraction is 0). */
  valPath: string;
  /** Fraction of tokens, taken from the end, that go to validation; in [0, 0.5]. */
  valFraction: number;
}

/** Token counts and shard paths of a finished split. */
export interface CorpusSplit {
  /** Train shard path. */
  train: string;
  /** Validation shard path, or null when valFraction is 0. */
  val: string | null;
  /** Tokens in the train shard. */
  trainTokens: number;
  /** Tokens in the validation shard. */
  valTokens: number;
  /** Documents that produced at least one token. */
  documents: number;
}

/** Checks a validation fraction; throws a DatasetError naming the allowed range. */
export function checkValFraction(valFraction: number): void {
  if (!(valFraction >= 0 && valFraction <= 0.5)) {
    throw new DatasetError(
      `Validation fraction ${valFraction} is out of range; use a number in [0, 0.5] ` +
        `(e.g. 0.05 for the last 5% of tokens, 0 for no validation split).`,
    );
  }
}

/** Streams documents into train/validation shards (see the module doc). */
export class CorpusWriter {
  readonly #tokenizer: Tokenizer;
  readonly #options: CorpusWriterOptions;
  readonly #train: ShardWriter;
  #docTokens = 0;
  #documents = 0;

  /** Opens the train shard's temp file; nothing is published before finish(). */
  constructor(tokenizer: Tokenizer, options: CorpusWriterOptions) {
    checkValFraction(options.valFraction);
    this.#tokenizer = tokenizer;
    this.#options = options;
    this.#train = ShardWriter.create(options.trainPath, { vocabSize: tokenizer.vocabSize });
  }

  /** Tokens written so far. */
  get tokens(): number {
    return this.#train.count;
  }

  /** Tokenizes `text` (part or all of the current document) and appends it. */
  addText(text: string): void {
    if (!text) return;
    const ids = this.#tokenizer.encode(text);
    this.#train.write(ids);
    this.#docTokens += ids.length;
  }

  /** Ends the current document with the end-of-document id (skipped for empty documents). */
  endDocument(): void {
    if (this.#docTokens === 0) return;
    this.#train.write([this.#tokenizer.eotId]);
    this.#docTokens = 0;
    this.#documents++;
  }

  /** Ends the last document, splits off validation and publishes the shards. */
  finish(): CorpusSplit {
    this.endDocument();
    const total = this.#train.count;
    if (total === 0) {
      this.abort();
      throw new DatasetError(
        "The corpus is empty: the inputs hold no text that produces tokens. Give non-empty text.",
      );
    }
    const { valFraction, trainPath, valPath } = this.#options;
    if (valFraction === 0) {
      return {
        train: trainPath,
        val: null,
        trainTokens: this.#train.close(),
        valTokens: 0,
        documents: this.#documents,
      };
    }
    if (total < 2) {
      this.abort();
      throw new DatasetError(
        `The corpus has only ${total} token, too few to split into train and validation. ` +
          `Add text, or set the validation fraction to 0.`,
      );
    }
    const valCount = Math.min(total - 1, Math.max(1, Math.round(total * valFraction)));
    const val = ShardWriter.create(valPath, { vocabSize: this.#tokenizer.vocabSize });
    try {
      this.#train.moveTailTo(valCount, val);
      const valTokens = val.close();
      const trainTokens = this.#train.close();
      return { train: trainPath, val: valPath, trainTokens, valTokens, documents: this.#documents };
    } catch (e) {
      val.abort();
      this.abort();
      throw e;
    }
  }

  /** Discards everything written; no shard is published. */
  abort(): void {
    this.#train.abort();
  }
}

/**
 * The tokenizer contract shared by every tokenizer in `datasets/`.
 *
 * `encode` treats its input as plain text: special-token strings such as `<|endoftext|>` or
 * `[MASK]` inside the text are encoded as ordinary characters, never as special ids, so training
 * text cannot inject control tokens. Special ids are placed by the data pipeline (shards, loaders).
 *
 * @module
 */

/** The names `tokenizerByName` accepts. */
export const TOKENIZER_NAMES = ["gpt2", "bert", "roberta", "bytes"] as const;

/** One of {@link TOKENIZER_NAMES}. */
export type TokenizerName = typeof TOKENIZER_NAMES[number];

/** Text <-> token ids, with the special ids the data pipeline needs as fields. */
export interface Tokenizer {
  /** Registry name, e.g. "gpt2". Also used in cache paths. */
  readonly name: TokenizerName;
  /** Number of ids; every id is in [0, vocabSize). (V) */
  readonly vocabSize: number;
  /** Written after every document in a shard (`<|endoftext|>`, `[SEP]`, `</s>`). */
  readonly eotId: number;
  /** Padding id, for padded (MLM) batches; absent when the tokenizer has none (GPT-2). */
  readonly padId?: number;
  /** Sequence-start id for MLM batches (`[CLS]`, `<s>`); absent for GPT-2. */
  readonly clsId?: number;
  /** Sequence/segment end id for MLM batches (`[SEP]`, `</s>`); absent for GPT-2. */
  readonly sepId?: number;
  /** Mask id for MLM batches (`[MASK]`, `<mask>`); absent for GPT-2. */
  readonly maskId?: number;
  /** Unknown-token id, when the tokenizer can produce one. */
  readonly unkId?: number;
  /** Every special id (never masked, never drawn as a random replacement). */
  readonly specialIds: readonly number[];
  /** Plain text -> ids (special-token strings in the text stay ordinary text). */
  encode(text: string): number[];
  /** Ids -> text. Throws a DatasetError for an id outside [0, vocabSize). */
  decode(ids: ArrayLike<number>): string;
}

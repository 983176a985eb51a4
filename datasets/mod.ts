/**
 * `datasets/`: tokenizers, token shards, corpus preparation and the batch loaders that feed the
 * training loop (through `BatchSource` from core/train/batch.ts). Nothing here touches the GPU.
 *
 * @module
 */

export type { BatchSource, TokenBatch } from "../core/train/batch.ts";
export { DatasetError } from "./errors.ts";
export { hash32, mixSeed, permutation, Rng } from "./rng.ts";
export { checkIds } from "./check_ids.ts";

export { type Tokenizer, TOKENIZER_NAMES, type TokenizerName } from "./tokenizer.ts";
export { tokenizerByName } from "./tokenizer_by_name.ts";
export { GPT2_EOT_ID, GPT2_VOCAB_SIZE, Gpt2Tokenizer } from "./gpt2_tokenizer.ts";
export { BERT_VOCAB_SIZE, BertTokenizer, bertVocab } from "./bert_tokenizer.ts";
export { bertBasicTokenize } from "./bert_basic.ts";
export { ROBERTA_OFFSET, ROBERTA_VOCAB_SIZE, RobertaTokenizer } from "./roberta_tokenizer.ts";
export { BYTES_VOCAB_SIZE, BytesTokenizer } from "./bytes_tokenizer.ts";

export {
  encodeShardHeader,
  inspectShard,
  layoutLabel,
  LLAMA3_SHARD_MAGIC,
  MAX_SHARD_TOKENS,
  NEAR_MAGIC_BITS,
  PROBE_TOKENS,
  SHARD_FORMATS,
  SHARD_HEADER_BYTES,
  SHARD_LAYOUTS,
  SHARD_MAGIC,
  type ShardFormat,
  type ShardInfo,
  type ShardLayout,
  type ShardLayoutSpec,
  type ShardOptions,
  shardVersionFor,
} from "./shard_format.ts";
export { readShard, type ReadShardOptions, writeNanoGptShard, writeShard } from "./shard.ts";
export { ShardWriter } from "./shard_writer.ts";
export { type OpenShardOptions, openShards, ShardReader, ShardStream } from "./shard_reader.ts";
export { ArrayTokenStream, ConcatTokenStream, type TokenStream } from "./token_stream.ts";

export {
  type Dataset,
  DATASET_META_FILE,
  DATASET_META_FORMAT,
  type DatasetMeta,
  loadDataset,
  writeDatasetMeta,
} from "./dataset_meta.ts";
export { type CorpusSplit, CorpusWriter, type CorpusWriterOptions } from "./corpus_writer.ts";
export { findTextFiles, TEXT_EXTENSIONS, type TextFile } from "./text_files.ts";
export { prepare, type PrepareOptions, type PrepareSummary } from "./prepare.ts";
export {
  defaultCacheDir,
  type DefaultCorpus,
  defaultCorpus,
  type DefaultCorpusOptions,
  mobyDickDocuments,
} from "./default_corpus.ts";

export { CausalLoader, type CausalLoaderOptions } from "./causal_loader.ts";
export { maskedPerSeqFor, Masker, type MlmSpecials, mlmSpecials } from "./mlm.ts";
export { type MaskingMode, MlmLoader, type MlmLoaderOptions } from "./mlm_loader.ts";
export {
  type DatasetLoaders,
  datasetLoaders,
  type DataSource,
  describeLayouts,
  type LoaderSpec,
  openLoaders,
} from "./loaders.ts";
export { StreamDecoder } from "./stream_decoder.ts";
export { encodeWithMasks, type MaskedRow, maskTextOf } from "./mask_text.ts";
export {
  HF_TOKENIZER_FILE_NAMES,
  hfTokenizerFiles,
  type TokenizerFileOptions,
} from "./hf_tokenizer_files.ts";

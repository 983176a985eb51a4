/**
 * Train and validation batch sources for a prepared dataset, configured the usual way: the train
 * loader shuffles; the validation loader visits its data in order and (for MLM) masks statically,
 * so every evaluation sees the same batches.
 *
 * @module
 */

import { CausalLoader } from "./causal_loader.ts";
import type { Dataset } from "./dataset_meta.ts";
import { type MaskingMode, MlmLoader } from "./mlm_loader.ts";
import { openShards } from "./shard_reader.ts";
import type { Tokenizer } from "./tokenizer.ts";
import type { TokenStream } from "./token_stream.ts";

/** What batches to make. */
export interface LoaderSpec {
  /** "causal" (GPT-2) or "mlm" (BERT, RoBERTa). */
  objective: "causal" | "mlm";
  /** The dataset's tokenizer (ids are checked against its vocabulary). */
  tokenizer: Tokenizer;
  /** Batch size B. */
  B: number;
  /** Sequence length T. */
  T: number;
  /** Seed; default 0. */
  seed?: number;
  /** MLM train masking; default "dynamic" ("static" for BERT's recipe). */
  masking?: MaskingMode;
  /** MLM mask fraction; default 0.15. */
  maskProb?: number;
  /** MLM next-sentence prediction; default false. */
  nsp?: boolean;
}

/** The two loaders and a close() for their files. */
export interface DatasetLoaders {
  /** Shuffled training batches. */
  train: CausalLoader | MlmLoader;
  /** In-order validation batches (one epoch = val.batchesPerEpoch batches), or null. */
  val: CausalLoader | MlmLoader | null;
  /** Closes the shard files. */
  close(): void;
}

function loaderFor(
  tokens: TokenStream,
  spec: LoaderSpec,
  shuffle: boolean,
): CausalLoader | MlmLoader {
  const common = { tokens, B: spec.B, T: spec.T, seed: spec.seed ?? 0, shuffle };
  if (spec.objective === "causal") {
    return new CausalLoader({ ...common, vocabSize: spec.tokenizer.vocabSize });
  }
  return new MlmLoader({
    ...common,
    tokenizer: spec.tokenizer,
    masking: shuffle ? spec.masking : "static",
    maskProb: spec.maskProb,
    nsp: spec.nsp,
  });
}

/** Opens a dataset's shards and makes its train and validation loaders. */
export function datasetLoaders(dataset: Dataset, spec: LoaderSpec): DatasetLoaders {
  const opened: TokenStream[] = [];
  const close = () => opened.forEach((s) => s.close());
  try {
    const vocabSize = spec.tokenizer.vocabSize;
    const trainTokens = openShards(dataset.train, { vocabSize });
    opened.push(trainTokens);
    const train = loaderFor(trainTokens, spec, true);
    let val: CausalLoader | MlmLoader | null = null;
    if (dataset.val !== null) {
      const valTokens = openShards(dataset.val, { vocabSize });
      opened.push(valTokens);
      val = loaderFor(valTokens, spec, false);
    }
    return { train, val, close };
  } catch (e) {
    close();
    throw e;
  }
}

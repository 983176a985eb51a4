/**
 * Architecture descriptors: what distinguishes BERT, RoBERTa and GPT-2, as data. The transformer
 * builds one block body and one pair of heads from these fields, and the rest of the program asks
 * the descriptor (never the architecture's name) what an architecture does.
 * @module
 */
import type { GeluForm } from "../core/ops/gelu.ts";
import type { Arch, ModelConfig } from "./config.ts";

/** What an architecture is made of. */
export interface ArchDescriptor {
  /** Causal self-attention (each token sees its past) or bidirectional with a padding mask. */
  attention: "causal" | "bidirectional";
  /**
   * Where a block's LayerNorms sit: `pre` normalises each sub-layer's input (and the stack ends
   * with a final LayerNorm), `post` normalises each residual sum.
   */
  norm: "pre" | "post";
  /** GELU form: the exact erf or the tanh approximation. */
  gelu: GeluForm;
  /** Training objective: next-token LM over every position, or MLM at the masked positions. */
  objective: "lm" | "mlm";
  /** A LayerNorm over the embeddings' sum, before the first block. */
  embeddingsLayerNorm: boolean;
  /** Residual output projections initialised with std / sqrt(2 L) (GPT-2), else std. */
  scaledResidualInit: boolean;
  /** MLM masking: `static` (chosen once per sequence) or `dynamic` (anew every epoch); null for LM. */
  masking: "static" | "dynamic" | null;
  /** Whether the next-sentence prediction head (`nsp` in the config) may be turned on. */
  nspAllowed: boolean;
}

/** The descriptors by architecture name. */
export const ARCHS: Readonly<Record<Arch, ArchDescriptor>> = {
  bert: {
    attention: "bidirectional",
    norm: "post",
    gelu: "erf",
    objective: "mlm",
    embeddingsLayerNorm: true,
    scaledResidualInit: false,
    masking: "static",
    nspAllowed: true,
  },
  roberta: {
    attention: "bidirectional",
    norm: "post",
    gelu: "erf",
    objective: "mlm",
    embeddingsLayerNorm: true,
    scaledResidualInit: false,
    masking: "dynamic",
    nspAllowed: false,
  },
  gpt2: {
    attention: "causal",
    norm: "pre",
    gelu: "tanh",
    objective: "lm",
    embeddingsLayerNorm: false,
    scaledResidualInit: true,
    masking: null,
    nspAllowed: false,
  },
};

/** The descriptor of a config's architecture. */
export function archOf(cfg: Pick<ModelConfig, "arch">): ArchDescriptor {
  const d = Object.hasOwn(ARCHS, cfg.arch) ? ARCHS[cfg.arch] : undefined;
  if (!d) throw new Error(`no descriptor for architecture '${cfg.arch}'`);
  return d;
}

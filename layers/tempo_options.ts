/**
 * The Tempo switches: which optimized layers are on, and how masks are kept for backward.
 * @module
 */
import { TempoError } from "../core/errors.ts";

/** How dropout and GELU-branch masks are kept for backward. */
export type MaskStorage = "bytes" | "bits" | "regen";

/**
 * Which attention layer a model uses (`--attention`): `standard` is layers/attention.ts, baseline
 * or Tempo as the `attention` switch says; `fused` is layers/fused_attention.ts (keeps no
 * probabilities), whatever the `attention` switch says.
 */
export type AttentionKind = "standard" | "fused";

/** The attention kinds, in the order help and messages list them. */
export const ATTENTION_KINDS: readonly AttentionKind[] = ["standard", "fused"];

/** The Tempo switches. */
export interface TempoOptions {
  /** Tempo GELU: keep the output + a branch mask instead of the input. */
  gelu: boolean;
  /** Tempo LayerNorm: keep the output + rstd instead of the input + mean + rstd. */
  layernorm: boolean;
  /** Tempo attention: drop the dropout output P~ and recompute it in backward. */
  attention: boolean;
  /**
   * bytes: one byte per element (the paper); bits: packed 32 per u32 word; regen: dropout masks
   * are regenerated from the counter RNG (0 bytes) and the GELU branch mask is packed to bits.
   */
  masks: MaskStorage;
  /** The attention layer (`fused` replaces the standard one, Tempo or not). */
  attentionKind: AttentionKind;
}

/** The paper's baseline: no Tempo layer, byte masks. */
export const BASELINE: TempoOptions = {
  gelu: false,
  layernorm: false,
  attention: false,
  masks: "bytes",
  attentionKind: "standard",
};

/** Every Tempo layer on, masks regenerated (dropout) or packed to bits (GELU branch). */
export const ALL_TEMPO: TempoOptions = {
  gelu: true,
  layernorm: true,
  attention: true,
  masks: "regen",
  attentionKind: "standard",
};

/** The Tempo layer kinds. */
export const TEMPO_LAYERS = ["gelu", "layernorm", "attention"] as const;

/** Parse `--attention` (standard | fused); undefined is standard. */
export function parseAttention(kind?: string): AttentionKind {
  const k = (kind ?? "standard").trim().toLowerCase();
  if (!(ATTENTION_KINDS as readonly string[]).includes(k)) {
    throw new TempoError(
      `unknown --attention '${kind}'`,
      `use ${ATTENTION_KINDS.join(" or ")}`,
    );
  }
  return k as AttentionKind;
}

/**
 * Parse `--tempo` (all | none | comma list of gelu,layernorm,attention), `--masks`
 * (bytes | bits | regen) and `--attention` (standard | fused). Without `masks`, Tempo-on runs
 * default to regen and none to bytes.
 */
export function parseTempo(spec: string, masks?: string, attention?: string): TempoOptions {
  const s = spec.trim().toLowerCase();
  let on: string[];
  if (s === "all") on = [...TEMPO_LAYERS];
  else if (s === "none" || s === "") on = [];
  else on = s.split(",").map((x) => x.trim()).filter(Boolean);
  for (const x of on) {
    if (!(TEMPO_LAYERS as readonly string[]).includes(x)) {
      throw new TempoError(
        `unknown Tempo layer '${x}' in --tempo ${spec}`,
        `use all, none, or a comma list of ${TEMPO_LAYERS.join(",")}`,
      );
    }
  }
  const m = masks ?? (on.length > 0 ? "regen" : "bytes");
  if (!["bytes", "bits", "regen"].includes(m)) {
    throw new TempoError(`unknown --masks '${m}'`, "use bytes, bits or regen");
  }
  return {
    gelu: on.includes("gelu"),
    layernorm: on.includes("layernorm"),
    attention: on.includes("attention"),
    masks: m as MaskStorage,
    attentionKind: parseAttention(attention),
  };
}

/**
 * Split lists of `--tempo` configurations, however given: separate words (`none all`), one word
 * with `;` between configurations (`"none;gelu,layernorm"`), repeated flags, or a mix. Empty
 * parts are dropped; each part is one spec for `parseTempo`.
 */
export function splitTempoSpecs(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(";")).map((s) => s.trim()).filter(Boolean);
}

/**
 * `gelu,layernorm/bits`-style label of a switch set. Fused attention is named in the list as
 * `fused-attention` (in place of the Tempo switch, which it overrides): `all` and
 * `gelu,layernorm` with fused attention are both `gelu,layernorm,fused-attention/regen`.
 */
export function tempoLabel(t: TempoOptions): string {
  if (t.attentionKind === "fused") {
    const on = TEMPO_LAYERS.filter((k) => k !== "attention" && t[k]);
    return `${[...on, "fused-attention"].join(",")}/${t.masks}`;
  }
  const on = TEMPO_LAYERS.filter((k) => t[k]);
  const what = on.length === TEMPO_LAYERS.length ? "all" : on.length === 0 ? "none" : on.join(",");
  return `${what}/${t.masks}`;
}

/**
 * Memory benchmark (no GPU): BERT-Large f32 activation bytes per token per block for the baseline,
 * each single Tempo switch, all switches with byte masks, bit masks and regenerated masks, and
 * fused attention (alone and with the other Tempo layers), at seq 128, 384 and 512; the largest
 * batch under 11 GiB and 16 GiB, baseline vs all Tempo vs all Tempo with fused attention; and
 * GPT-2-medium at seq 1024, 2048 and 4096 (positions raised by config where the preset has
 * fewer), where only fused attention keeps the saved bytes per token flat; and BERT-Large with
 * 16-bit activations (`--precision bf16`/`f16`) beside f32.
 * Every number comes from planning mode (`planModel`, `maxBatch`: the real training step through the
 * real allocator, no GPU), which a GPU test holds equal to a real step's measured peak.
 * Run: deno run -A bench/memory.ts
 * @module
 */
import { ALL_TEMPO, BASELINE, tempoLabel, type TempoOptions } from "../layers/tempo_options.ts";

/** Fused attention, no other Tempo layer (byte masks, as the baseline). */
const FUSED_ONLY: TempoOptions = { ...BASELINE, attentionKind: "fused" };
/** Tempo GELU and LayerNorm, fused attention, regenerated masks. */
const ALL_FUSED: TempoOptions = { ...ALL_TEMPO, attentionKind: "fused" };
import { resolveConfig } from "../models/config.ts";
import { maxBatch, planModel } from "../models/plan.ts";

const CONFIGS: [string, TempoOptions][] = [
  ["baseline (byte masks)", BASELINE],
  ["gelu only", { ...BASELINE, gelu: true }],
  ["layernorm only", { ...BASELINE, layernorm: true }],
  ["attention only", { ...BASELINE, attention: true }],
  ["all, byte masks", { ...ALL_TEMPO, masks: "bytes" }],
  ["all, bit masks", { ...ALL_TEMPO, masks: "bits" }],
  ["all, regenerated masks", ALL_TEMPO],
  ["fused attention only", FUSED_ONLY],
  ["all + fused attention", ALL_FUSED],
];

/** Print the tables; returns the figures. */
export function main(): Record<string, unknown> {
  const cfg = resolveConfig("bert-large");
  const out: Record<string, unknown> = {};
  console.log(
    "BERT-Large f32, saved activation bytes per token per block (incl. LayerNorm row stats)",
  );
  console.log(
    ["config".padEnd(24), ...[128, 384, 512].map((s) => `seq ${s}`.padStart(18))].join(""),
  );
  const base: Record<number, number> = {};
  for (const [name, t] of CONFIGS) {
    const cells: string[] = [];
    for (const s of [128, 384, 512]) {
      const v = planModel(cfg, { batch: 1, seqLen: s }, t).activationBytesPerTokenPerLayer;
      if (t === BASELINE) base[s] = v;
      out[`${tempoLabel(t)}@${s}`] = v;
      cells.push(`${v.toLocaleString("en-US")} (${(base[s] / v).toFixed(2)}x)`.padStart(18));
    }
    console.log([name.padEnd(24), ...cells].join(""));
  }
  console.log(
    "\nLargest batch (planner), BERT-Large f32, Adam: baseline, all Tempo (regen masks), " +
      "all + fused attention",
  );
  for (const gib of [11, 16]) {
    for (const s of [128, 384, 512]) {
      const budget = gib * 1024 ** 3;
      const b = maxBatch(cfg, s, BASELINE, budget), t = maxBatch(cfg, s, ALL_TEMPO, budget);
      const f = maxBatch(cfg, s, ALL_FUSED, budget);
      out[`maxBatch@${gib}GiB@${s}`] = { baseline: b, tempo: t, fused: f };
      console.log(
        `  ${gib} GiB, seq ${String(s).padEnd(4)}: baseline ${String(b).padStart(3)}, Tempo ${
          String(t).padStart(3)
        }, fused ${String(f).padStart(3)}` +
          `  -> ${
            b > 0 ? `${(t / b).toFixed(2)}x, ${(f / b).toFixed(2)}x` : "baseline does not fit"
          }`,
      );
    }
  }
  const gpt = (s: number) => resolveConfig("gpt2-medium", s > 1024 ? { maxPositions: s } : {});
  console.log(
    "\nGPT-2-medium f32, saved activation bytes per token per block (positions raised by config " +
      "above 1024), and the largest batch under 11 GiB",
  );
  const gptConfigs: [string, TempoOptions][] = [
    ["baseline (byte masks)", BASELINE],
    ["all, regenerated masks", ALL_TEMPO],
    ["all + fused attention", ALL_FUSED],
  ];
  console.log(
    ["config".padEnd(24), ...[1024, 2048, 4096].map((s) => `seq ${s}`.padStart(24))].join(""),
  );
  for (const [name, t] of gptConfigs) {
    const cells: string[] = [];
    for (const s of [1024, 2048, 4096]) {
      const v = planModel(gpt(s), { batch: 1, seqLen: s }, t).activationBytesPerTokenPerLayer;
      const b = maxBatch(gpt(s), s, t, 11 * 1024 ** 3);
      out[`gpt2-medium:${tempoLabel(t)}@${s}`] = v;
      out[`gpt2-medium:maxBatch@11GiB:${tempoLabel(t)}@${s}`] = b;
      cells.push(`${v.toLocaleString("en-US")}, batch ${b}`.padStart(24));
    }
    console.log([name.padEnd(24), ...cells].join(""));
  }
  // 16-bit activations (--precision bf16; f16 stores the same bytes): parameters, gradients and
  // AdamW moments stay f32, so the saved bytes halve but the persistent ones do not.
  console.log(
    "\nBERT-Large, 16-bit activations (bf16 = f16 bytes; f32 master weights, gradients, " +
      "moments), saved bytes per token per block, and the largest batch under 11 GiB",
  );
  console.log(
    ["config".padEnd(24), ...[128, 384, 512].map((s) => `seq ${s}`.padStart(24))].join(""),
  );
  const halfConfigs: [string, TempoOptions][] = [
    ["baseline (byte masks)", BASELINE],
    ["all, regenerated masks", ALL_TEMPO],
    ["all + fused attention", ALL_FUSED],
  ];
  for (const [name, t] of halfConfigs) {
    const cells: string[] = [];
    for (const s of [128, 384, 512]) {
      const opts = { precision: "bf16" as const };
      const v = planModel(cfg, { batch: 1, seqLen: s }, t, opts).activationBytesPerTokenPerLayer;
      const f32 = out[`${tempoLabel(t)}@${s}`] as number;
      const b = maxBatch(cfg, s, t, 11 * 1024 ** 3, opts);
      out[`16bit:${tempoLabel(t)}@${s}`] = v;
      out[`16bit:maxBatch@11GiB:${tempoLabel(t)}@${s}`] = b;
      cells.push(`${v.toLocaleString("en-US")} (${(f32 / v).toFixed(2)}x), b ${b}`.padStart(24));
    }
    console.log([name.padEnd(24), ...cells].join(""));
  }
  console.log("  (x: against the same configuration in f32)");
  const a512 = out[`${tempoLabel(ALL_TEMPO)}@512`] as number;
  const f512 = out[`${tempoLabel(ALL_FUSED)}@512`] as number;
  const mb = out["maxBatch@11GiB@384"] as { baseline: number; tempo: number };
  const mf = out["maxBatch@11GiB@512"] as { tempo: number; fused: number };
  console.log(
    `\ntargets: all-Tempo at seq 512 <= 75,520 B/token/block: ${
      a512 <= 75520 ? "met" : "MISSED"
    } (${a512}); ` +
      `max-batch ratio at seq 384 under 11 GiB >= 1.8x: ${
        mb.baseline > 0 && mb.tempo / mb.baseline >= 1.8 ? "met" : "MISSED"
      } ` +
      `(${mb.baseline} -> ${mb.tempo}); all + fused attention at seq 512 <= 42,000: ${
        f512 <= 42000 ? "met" : "MISSED"
      } (${f512}); its largest batch at seq 512 under 11 GiB >= 11: ${
        mf.fused >= 11 ? "met" : "MISSED"
      } (${mf.tempo} -> ${mf.fused})`,
  );
  const h512 = out[`16bit:${tempoLabel(ALL_TEMPO)}@512`] as number;
  const hb512 = out[`16bit:${tempoLabel(BASELINE)}@512`] as number;
  const hmb = out[`16bit:maxBatch@11GiB:${tempoLabel(ALL_TEMPO)}@384`] as number;
  console.log(
    `16-bit targets: all-Tempo regen at seq 512 <= 38,000 B/token/block: ${
      h512 <= 38000 ? "met" : "MISSED"
    } (${h512}; 16-bit baseline ${hb512}; f32 ${a512}); its largest batch at seq 384 under ` +
      `11 GiB >= 16: ${
        hmb >= 16 ? "met" : "MISSED"
      } (${hmb}; f32 ${mb.tempo}, f32 baseline ${mb.baseline})`,
  );
  return out;
}

if (import.meta.main) main();

/**
 * Memory benchmark (no GPU): BERT-Large f32 activation bytes per token per block for the baseline,
 * each single Tempo switch, all switches with byte masks, bit masks and regenerated masks, at seq
 * 128, 384 and 512; and the largest batch under 11 GiB and 16 GiB, baseline vs all Tempo.
 * Every number comes from planning mode (`planModel`, `maxBatch`: the real training step through the
 * real allocator, no GPU), which a GPU test holds equal to a real step's measured peak.
 * Run: deno run -A bench/memory.ts
 * @module
 */
import { ALL_TEMPO, BASELINE, tempoLabel, type TempoOptions } from "../layers/tempo_options.ts";
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
    "\nLargest batch (planner), BERT-Large f32, Adam, baseline vs all Tempo (regen masks)",
  );
  for (const gib of [11, 16]) {
    for (const s of [128, 384, 512]) {
      const budget = gib * 1024 ** 3;
      const b = maxBatch(cfg, s, BASELINE, budget), t = maxBatch(cfg, s, ALL_TEMPO, budget);
      out[`maxBatch@${gib}GiB@${s}`] = { baseline: b, tempo: t };
      console.log(
        `  ${gib} GiB, seq ${String(s).padEnd(4)}: baseline ${String(b).padStart(3)}, Tempo ${
          String(t).padStart(3)
        }` +
          `  -> ${b > 0 ? (t / b).toFixed(2) + "x" : "baseline does not fit"}`,
      );
    }
  }
  const a512 = out[`${tempoLabel(ALL_TEMPO)}@512`] as number;
  const mb = out["maxBatch@11GiB@384"] as { baseline: number; tempo: number };
  console.log(
    `\ntargets: all-Tempo at seq 512 <= 75,520 B/token/block: ${
      a512 <= 75520 ? "met" : "MISSED"
    } (${a512}); ` +
      `max-batch ratio at seq 384 under 11 GiB >= 1.8x: ${
        mb.baseline > 0 && mb.tempo / mb.baseline >= 1.8 ? "met" : "MISSED"
      } ` +
      `(${mb.baseline} -> ${mb.tempo})`,
  );
  return out;
}

if (import.meta.main) main();

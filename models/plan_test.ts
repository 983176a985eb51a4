import { Allocator } from "../core/allocator.ts";
import { Encoder } from "../core/encoder.ts";
import type { StepContext } from "../core/step.ts";
import { totalOf, totalOfDtypes } from "../core/allocator.ts";
import { type Precision, PRECISIONS } from "../core/precision.ts";
import { savedBytes } from "../layers/layer.ts";
import { ALL_TEMPO, BASELINE, tempoLabel, type TempoOptions } from "../layers/tempo_options.ts";
import { type ModelConfig, resolveConfig } from "./config.ts";
import { maxBatch, planModel, syntheticSource } from "./plan.ts";
import { type RunShape, Transformer } from "./transformer.ts";

const SWITCHES: TempoOptions[] = [
  BASELINE,
  { ...BASELINE, masks: "bits" },
  { ...BASELINE, gelu: true },
  { ...BASELINE, layernorm: true },
  { ...BASELINE, attention: true },
  { ...ALL_TEMPO, masks: "bytes" },
  { ...ALL_TEMPO, masks: "bits" },
  ALL_TEMPO,
  { ...BASELINE, attentionKind: "fused" },
  { ...ALL_TEMPO, attentionKind: "fused" },
];

Deno.test("per-layer saved bytes: each layer's declared saves, a tensor counted at its first keeper", () => {
  const cases: [string, RunShape, Record<string, unknown>][] = [
    ["gpt2-tiny", { batch: 3, seqLen: 17 }, {}],
    ["bert-tiny", { batch: 2, seqLen: 19 }, {}],
    ["roberta-tiny", { batch: 3, seqLen: 13 }, {}],
    ["bert-tiny", { batch: 3, seqLen: 11 }, { nsp: true }],
  ];
  // Each precision: bf16 at these odd T keeps the attention scores f32 (Attention.scoresDtype),
  // f16 stores them in bf16 (its range); both keep every other activation in 16 bits.
  for (const [name, shape, over] of cases) {
    const cfg = resolveConfig(name, over);
    for (const t of SWITCHES) {
      for (const precision of PRECISIONS) {
        checkDeclared(cfg, shape, t, precision, `${name} ${JSON.stringify(over)}`);
      }
    }
  }
});

function checkDeclared(
  cfg: ModelConfig,
  shape: RunShape,
  t: TempoOptions,
  precision: Precision,
  label: string,
): void {
  const plan = planModel(cfg, shape, t, { precision });
  const model = new Transformer(cfg, shape, t, new Allocator(), { precision });
  // The declarations, with tensors named by the node list (every dropout here is active, so
  // no layer passes its input through as its output).
  const counted = new Set<string>();
  const want = model.graph.nodes.map((n) => {
    let bytes = 0;
    for (const s of n.layer.saves()) {
      const id = s.of === "own"
        ? `${n.layer.name}:${s.name}`
        : s.of === "input"
        ? n.inputs[0]
        : n.output;
      if (counted.has(id)) continue;
      counted.add(id);
      bytes += savedBytes(s);
    }
    return { name: n.layer.name, bytes };
  });
  const what = `${label} ${tempoLabel(t)} ${precision}`;
  if (JSON.stringify(plan.savedByLayer) !== JSON.stringify(want)) {
    const i = want.findIndex((w, j) => w.bytes !== plan.savedByLayer[j]?.bytes);
    throw new Error(
      `${what}: ${want[i]?.name} measured ${plan.savedByLayer[i]?.bytes}, declared ${
        want[i]?.bytes
      }`,
    );
  }
  const kept = keptAfterForward(cfg, shape, t, precision);
  if (plan.activationBytes !== kept) {
    throw new Error(`${what}: ${plan.activationBytes} != ${kept}`);
  }
  const byDtype = totalOfDtypes(plan.activationByDtype);
  if (byDtype !== plan.activationBytes) {
    throw new Error(`${what}: saved by dtype ${byDtype} != ${plan.activationBytes}`);
  }
  if (
    precision !== "f32" && !(plan.activationByDtype[precision] > plan.activationByDtype.f32)
  ) {
    throw new Error(`${what}: ${JSON.stringify(plan.activationByDtype)} not mostly 16-bit`);
  }
}

Deno.test("planned peak: persistent bytes are the model's and the trainer's tensors, the peak is named", () => {
  const cfg = resolveConfig("gpt2-tiny"), shape = { batch: 2, seqLen: 16 };
  const plan = planModel(cfg, shape, ALL_TEMPO);
  const params = plan.parameters * 4;
  const p = plan.persistent;
  // Loss [2], and the trainer's grad norm [2] and metrics [4], f32.
  if (p.param !== params || p.grad !== params || p.optimizer !== 2 * params || p.workspace !== 32) {
    throw new Error(JSON.stringify(p));
  }
  if (p.activation !== 0 || plan.peakBytes <= totalOf(p)) throw new Error(`${plan.peakBytes}`);
  if (!/^(forward|backward):/.test(plan.peakAt)) throw new Error(plan.peakAt);
  const sum = totalOf(plan.peakByCategory);
  if (sum !== plan.peakBytes) throw new Error(`split ${sum} != peak ${plan.peakBytes}`);
});

/** Activation bytes live at the end of a training forward, measured by the allocator (plan mode). */
function keptAfterForward(
  cfg: ModelConfig,
  shape: RunShape,
  tempo: TempoOptions,
  precision: Precision = "f32",
): number {
  const alloc = new Allocator();
  const model = new Transformer(cfg, shape, tempo, alloc, { precision });
  const ctx: StepContext = {
    enc: new Encoder(null),
    alloc,
    training: true,
    seed: 1,
    stream: 0,
    lossScale: 1,
  };
  model.forward(ctx, syntheticSource(cfg, shape).next());
  return alloc.report().live.activation;
}

Deno.test("a BERT block keeps exactly the reference's bytes per token (measured through the allocator)", () => {
  // Small h, a, s; one block's bytes = (L=3) - (L=2), measured.
  const h = 32, a = 4, s = 16, B = 2, N = B * s;
  const shape = { batch: B, seqLen: s };
  const cfg = (layers: number) =>
    resolveConfig("bert-tiny", { hidden: h, heads: a, ffn: 4 * h, layers });
  const block = (t: TempoOptions) =>
    (keptAfterForward(cfg(3), shape, t) - keptAfterForward(cfg(2), shape, t)) / N;
  const E = 4;
  // Section 4 of the reference, plus LayerNorm row statistics (baseline mean+rstd, Tempo rstd; 2 LNs).
  const expected: [TempoOptions, number][] = [
    [BASELINE, (16 * h + 2 * a * s) * E + (2 * h + a * s) + 2 * 2 * E],
    [{ ...ALL_TEMPO, masks: "bytes" }, (10 * h + a * s) * E + (a * s + 6 * h) + 2 * E],
    [{ ...ALL_TEMPO, masks: "bits" }, (10 * h + a * s) * E + (a * s + 6 * h) / 8 + 2 * E],
    [ALL_TEMPO, (10 * h + a * s) * E + (4 * h) / 8 + 2 * E],
    // Fused attention keeps one f32 log-sum-exp per head instead of P (a*s per token).
    [{ ...ALL_TEMPO, attentionKind: "fused" }, (10 * h + a) * E + (4 * h) / 8 + 2 * E],
    [{ ...BASELINE, attentionKind: "fused" }, (16 * h + a) * E + 2 * h + 2 * 2 * E],
  ];
  for (const [t, bytes] of expected) {
    const got = block(t);
    if (got !== bytes) {
      throw new Error(`${JSON.stringify(t)}: ${got} bytes/token/block, formula ${bytes}`);
    }
    const planned = planModel(cfg(3), shape, t).activationBytesPerTokenPerLayer;
    if (planned !== bytes) throw new Error(`planner says ${planned}, formula ${bytes}`);
  }
});

Deno.test("max-batch equals a linear scan over planned peaks, for limits on and off the line", () => {
  const cfg = resolveConfig("bert-tiny"), T = 32;
  const peaks = Array.from(
    { length: 41 },
    (_, b) => b === 0 ? 0 : planModel(cfg, { batch: b, seqLen: T }, ALL_TEMPO).peakBytes,
  );
  for (
    const limit of [
      peaks[1] - 1,
      peaks[1],
      peaks[2] - 1,
      peaks[7],
      peaks[7] + 1,
      peaks[23] - 3,
      peaks[40],
    ]
  ) {
    let want = 0;
    while (want < 40 && peaks[want + 1] <= limit) want++;
    const got = maxBatch(cfg, T, ALL_TEMPO, limit);
    if (got !== want) throw new Error(`limit ${limit}: max-batch ${got}, scan ${want}`);
  }
});

Deno.test("max-batch: the batch found fits and one more does not; impossible budgets give 0", () => {
  const cfg = resolveConfig("bert-base");
  for (const t of [BASELINE, ALL_TEMPO]) {
    const budget = 3 * 1024 ** 3;
    const b = maxBatch(cfg, 128, t, budget);
    if (b < 1) throw new Error("nothing fits");
    const at = (n: number) => planModel(cfg, { batch: n, seqLen: 128 }, t).peakBytes;
    if (!(at(b) <= budget && at(b + 1) > budget)) {
      throw new Error(`b=${b}: ${at(b)} / ${at(b + 1)} vs ${budget}`);
    }
  }
  if (maxBatch(cfg, 128, BASELINE, 1e6) !== 0) throw new Error("1 MB cannot hold bert-base");
  const base = maxBatch(cfg, 128, BASELINE, 4 * 1024 ** 3);
  const tempo = maxBatch(cfg, 128, ALL_TEMPO, 4 * 1024 ** 3);
  if (!(tempo > base)) throw new Error(`Tempo should fit a larger batch: ${tempo} vs ${base}`);
});

import {
  type ChartRow,
  peakMemoryChart,
  peakMemorySpec,
  throughputChart,
  throughputSpec,
} from "./charts.ts";

function rows(models = ["gpt2-tiny"]): ChartRow[] {
  const out: ChartRow[] = [];
  for (const model of models) {
    for (const tempo of ["none/bytes", "all/regen"]) {
      for (const batchSize of [2, 4, 8]) {
        const over = tempo === "none/bytes" && batchSize === 8;
        const f = tempo === "none/bytes" ? 1.3 : 1;
        out.push({
          model,
          tempo,
          batchSize,
          seqLen: 16,
          status: over ? "over-budget" : "ok",
          tokensPerSec: over ? null : 1000 * batchSize / f,
          peakBytes: over ? null : 1e6 * batchSize * f,
          predictedPeakBytes: 1.01e6 * batchSize * f,
        });
      }
    }
  }
  return out;
}

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

function assertSvg(svg: string, names: string[]): void {
  assert(svg.startsWith("<svg"), `not an SVG: ${svg.slice(0, 40)}`);
  assert(svg.trimEnd().endsWith("</svg>"), "SVG not closed");
  for (const n of names) assert(svg.includes(n), `SVG lacks '${n}'`);
}

Deno.test("peakMemoryChart: SVG with every series, measured and predicted bars, memory limit", async () => {
  const svg = await peakMemoryChart(rows(), { memoryLimitBytes: 9e6 });
  assertSvg(svg, [
    "none/bytes",
    "all/regen",
    "gpt2-tiny b8×16",
    "peak memory (MiB)",
    "memory limit",
  ]);
  const spec = peakMemorySpec(rows(), { memoryLimitBytes: 9e6 }) as unknown as {
    data: { values: { source: string; bytes: number }[] };
    layer: unknown[];
  };
  const values = spec.data.values;
  assert(values.length === 6, `bars: ${values.length}`);
  const over = values.filter((v) => v.source === "predicted (over-budget)");
  assert(over.length === 1 && over[0].bytes === 1.01e6 * 8 * 1.3, "over-budget bar is predicted");
  assert(spec.layer.length === 3, "bars, ticks, memory limit rule");
  assert((peakMemorySpec(rows()) as unknown as { layer: unknown[] }).layer.length === 2, "no rule");
});

Deno.test("peakMemoryChart: small peaks in KiB, and no rows at all", async () => {
  const tiny = rows().map((r) => ({ ...r, peakBytes: 3000, predictedPeakBytes: 3100 }));
  assertSvg(await peakMemoryChart(tiny), ["peak memory (KiB)"]);
  assertSvg(await peakMemoryChart([]), ["peak memory per configuration"]);
});

Deno.test("throughputChart: one line per tempo configuration, panels per model", async () => {
  assertSvg(await throughputChart(rows()), ["none/bytes", "all/regen", "gpt2-tiny, seq 16"]);
  const one = throughputSpec(rows()) as unknown as { facet?: unknown; data: { values: unknown[] } };
  assert(one.facet === undefined, "one model: no facet");
  assert(one.data.values.length === 5, "only trained runs are plotted");
  const two = rows(["gpt2-tiny", "bert-tiny"]);
  const svg = await throughputChart(two);
  assertSvg(svg, ["none/bytes", "all/regen", "gpt2-tiny, seq 16", "bert-tiny, seq 16"]);
  assert((throughputSpec(two) as unknown as { facet?: unknown }).facet !== undefined, "facet");
});

Deno.test("throughputChart: a single batch size, and no run trained", async () => {
  assertSvg(await throughputChart(rows().filter((r) => r.batchSize === 2)), ["all/regen"]);
  const none = rows().map((r) => ({ ...r, status: "oom", tokensPerSec: null }));
  assertSvg(await throughputChart(none), ["no run trained"]);
});

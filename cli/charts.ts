/**
 * Charts of a sweep as standalone SVG: Vega-Lite specs rendered headless (no DOM, no canvas).
 * @module
 */
import * as vega from "vega";
import * as vegaLite from "vega-lite";
import type { TopLevelSpec } from "vega-lite";

/** What the charts need of one run (a sweep record has these fields and more). */
export interface ChartRow {
  /** Model preset. */
  model: string;
  /** Tempo label, e.g. `all/regen`: the series name. */
  tempo: string;
  /** Sequences per micro-batch. */
  batchSize: number;
  /** Tokens per sequence. */
  seqLen: number;
  /** `ok` when the run trained; anything else (`over-budget`, `oom`, `failed`) did not. */
  status: string;
  /** Mean tokens per second, or null when the run did not train. */
  tokensPerSec: number | null;
  /** Measured peak bytes, or null when the run did not train. */
  peakBytes: number | null;
  /** The peak measured in planning mode, or null when planning failed. */
  predictedPeakBytes: number | null;
}

/** Options of the peak-memory chart. */
export interface PeakChartOptions {
  /** Draw the memory limit as a dashed rule. */
  memoryLimitBytes?: number;
}

/** Render a Vega-Lite spec to an SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const UNITS: [string, number][] = [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]];

/** The largest binary unit that `max` reaches (bytes below 1 KiB stay bytes). */
function unitFor(max: number): [string, number] {
  return UNITS.find(([, d]) => max >= d) ?? ["B", 1];
}

/** `gpt2-tiny b8×64`: the x group of a run in the peak chart. */
function configLabel(r: ChartRow): string {
  return `${r.model} b${r.batchSize}×${r.seqLen}`;
}

/** `gpt2-tiny, seq 64`: the panel of a run in the throughput chart. */
function panelLabel(r: ChartRow): string {
  return `${r.model}, seq ${r.seqLen}`;
}

const unique = <T>(xs: T[]): T[] => [...new Set(xs)];

/**
 * Bars of peak memory per configuration (model, batch, sequence), one bar per Tempo
 * configuration. Runs that trained show their measured peak; runs that did not (over the limit,
 * out of memory) show the planning-mode prediction, faded. Black ticks mark every prediction; the
 * memory limit, when given, is a dashed red rule.
 */
export function peakMemorySpec(rows: ChartRow[], options: PeakChartOptions = {}): TopLevelSpec {
  const values = rows.flatMap((r) => {
    const bytes = r.peakBytes ?? r.predictedPeakBytes;
    if (bytes === null) return [];
    return [{
      config: configLabel(r),
      tempo: r.tempo,
      bytes,
      predicted: r.predictedPeakBytes,
      source: r.peakBytes !== null ? "measured" : `predicted (${r.status})`,
    }];
  });
  const max = Math.max(
    1,
    options.memoryLimitBytes ?? 0,
    ...values.flatMap((v) => [v.bytes, v.predicted ?? 0]),
  );
  const [unit, div] = unitFor(max);
  const x = {
    field: "config",
    type: "nominal" as const,
    title: "configuration (model, batch × sequence)",
    sort: unique(values.map((v) => v.config)),
    axis: { labelAngle: -30 },
  };
  const xOffset = {
    field: "tempo",
    type: "nominal" as const,
    sort: unique(rows.map((r) => r.tempo)),
  };
  const y = { type: "quantitative" as const, title: `peak memory (${unit})` };
  const layers: TopLevelSpec[] = [
    {
      mark: { type: "bar" },
      encoding: {
        x,
        xOffset,
        y: { ...y, field: "value" },
        color: { field: "tempo", type: "nominal", title: "tempo", sort: xOffset.sort },
        opacity: { condition: { test: "datum.source === 'measured'", value: 1 }, value: 0.35 },
      },
      transform: [{ calculate: `datum.bytes / ${div}`, as: "value" }],
    } as TopLevelSpec,
    {
      mark: { type: "tick", color: "black", thickness: 2 },
      transform: [
        { filter: "datum.predicted !== null" },
        { calculate: `datum.predicted / ${div}`, as: "value" },
      ],
      encoding: { x, xOffset, y: { ...y, field: "value" } },
    } as TopLevelSpec,
  ];
  if (options.memoryLimitBytes !== undefined) {
    layers.push({
      mark: { type: "rule", color: "#d62728", strokeDash: [6, 4] },
      encoding: { y: { ...y, datum: options.memoryLimitBytes / div } },
    } as TopLevelSpec);
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "peak memory per configuration",
      anchor: "start",
      subtitle: "bars: measured (faded: predicted, not run); ticks: planning-mode prediction" +
        (options.memoryLimitBytes !== undefined ? "; dashed: memory limit" : ""),
    },
    data: { values },
    width: { step: 18 },
    height: 260,
    layer: layers,
  } as TopLevelSpec;
}

/**
 * Lines of tokens per second against batch size, one line per Tempo configuration, one panel per
 * model and sequence length (only runs that trained).
 */
export function throughputSpec(rows: ChartRow[]): TopLevelSpec {
  const ok = rows.filter((r) => r.status === "ok" && r.tokensPerSec !== null);
  const values = ok.map((r) => ({
    panel: panelLabel(r),
    tempo: r.tempo,
    batchSize: r.batchSize,
    tokensPerSec: r.tokensPerSec,
  }));
  const batches = unique(ok.map((r) => r.batchSize)).sort((a, b) => a - b);
  const panels = unique(values.map((v) => v.panel));
  const inner = {
    mark: { type: "line", point: true },
    encoding: {
      x: {
        field: "batchSize",
        type: "quantitative",
        title: "batch size",
        scale: { type: "log", base: 2, nice: false, padding: 12 },
        axis: { values: batches, format: "d" },
      },
      y: { field: "tokensPerSec", type: "quantitative", title: "tokens / s" },
      color: {
        field: "tempo",
        type: "nominal",
        title: "tempo",
        sort: unique(rows.map((r) => r.tempo)),
      },
    },
    width: 320,
    height: 220,
  };
  const title = {
    text: "throughput against batch size",
    anchor: "start" as const,
    subtitle: ok.length === 0 ? "no run trained" : "one line per Tempo configuration",
  };
  const base = { $schema: "https://vega.github.io/schema/vega-lite/v6.json", title };
  if (panels.length <= 1) {
    const sub = panels.length === 1 ? `${title.subtitle} (${panels[0]})` : title.subtitle;
    return {
      ...base,
      title: { ...title, subtitle: sub },
      data: { values },
      ...inner,
    } as TopLevelSpec;
  }
  return {
    ...base,
    data: { values },
    facet: { column: { field: "panel", type: "nominal", title: null, sort: panels } },
    spec: inner,
    resolve: { scale: { y: "independent" } },
  } as TopLevelSpec;
}

/** The peak-memory chart as SVG. */
export function peakMemoryChart(rows: ChartRow[], options: PeakChartOptions = {}): Promise<string> {
  return renderSvg(peakMemorySpec(rows, options));
}

/** The throughput chart as SVG. */
export function throughputChart(rows: ChartRow[]): Promise<string> {
  return renderSvg(throughputSpec(rows));
}

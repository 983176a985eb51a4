import type { StepRecord } from "../core/train/trainer.ts";
import { formatDuration, progressFields, stepLine } from "./reporter.ts";

const record = (o: Partial<StepRecord> & { peak: number }): StepRecord => ({
  step: 1,
  loss: 5.5,
  lr: 2e-3,
  gradNorm: 1.5,
  ms: 10,
  tokensPerStep: 512,
  samplesPerStep: 8,
  memory: {
    peak: o.peak,
    peakByCategory: { param: 0, grad: 0, optimizer: 0, activation: 0, workspace: 0 },
    pooledBytes: 0,
  } as unknown as StepRecord["memory"],
  ...o,
});

Deno.test("reporter: step lines fit 100 columns, even with extreme values", () => {
  const cases = [
    stepLine(record({ step: 25, peak: 6.6 * 2 ** 20 }), 53.2, false),
    stepLine(record({ step: 1, peak: 6.6 * 2 ** 20 }), 2554, true),
    stepLine(
      record({
        step: 999_999,
        loss: 10.4937,
        lr: 1.25e-10,
        gradNorm: 123456.7,
        tokensPerStep: 4_000_000,
        peak: 1023.99 * 2 ** 30,
      }),
      99_999.9,
      false,
    ),
    stepLine(record({ step: 3, tokensPerStep: 1e9, peak: 1e15 }), 0.01, false),
    stepLine(record({ step: 100_000, loss: 12.3456, peak: 1e12 }), 123_456, true),
  ];
  for (const line of cases) {
    if (line.length > 100) throw new Error(`${line.length} columns: ${line}`);
  }
  if (!/incl\. compile/.test(cases[1]) || /tok\/s/.test(cases[1])) throw new Error(cases[1]);
  if (!/53\.2 ms \| 9624 tok\/s/.test(cases[0])) throw new Error(cases[0]);
});

Deno.test("reporter: progress fields (elapsed, ETA, tokens/s) and durations", () => {
  const f = progressFields({
    step: 100,
    total: 400,
    elapsedMs: 5300,
    msPerStep: 50,
    tokensPerStep: 512,
  });
  if (f.tps !== "10240" || f.elapsed !== "5s" || f.eta !== "15s") {
    throw new Error(JSON.stringify(f));
  }
  const g = progressFields({ step: 1, total: 10, elapsedMs: 0, msPerStep: 0, tokensPerStep: 512 });
  if (g.eta !== "?" || g.tps !== "?") throw new Error(JSON.stringify(g));
  for (const [ms, s] of [[9_400, "9s"], [65_000, "1m05s"], [3_700_000, "1h01m"]] as const) {
    if (formatDuration(ms) !== s) throw new Error(`${ms}: ${formatDuration(ms)}`);
  }
});

/**
 * Prints a run: header, one line per logged step (or a progress bar on a terminal), evaluations,
 * checkpoints and a summary; optionally JSONL records to a file.
 * @module
 */
import cliProgress from "cli-progress";
import pc from "picocolors";
import type { LoopSummary } from "../core/train/loop.ts";
import type { StepRecord } from "../core/train/trainer.ts";
import { formatBytes, formatCategories } from "./format.ts";

/** Reporter settings. */
export interface ReporterOptions {
  /** Print only the summary. */
  quiet: boolean;
  /** Print nothing (the JSONL file is still written). */
  silent?: boolean;
  /** JSONL file path. */
  json?: string;
  /** Print every n steps. */
  logEvery: number;
  /** Total steps (for the progress bar). */
  steps: number;
}

/** Prints and records a run. */
export class Reporter {
  #file: Deno.FsFile | null = null;
  #bar: cliProgress.SingleBar | null = null;
  #peak = 0;
  /** Steps and milliseconds since the last printed line: step times are averaged over the window,
   * because two steps can complete within one readback poll (~11 ms on the software adapter). */
  #windowSteps = 0;
  #windowMs = 0;
  #start = performance.now();
  readonly #tty: boolean;

  constructor(readonly o: ReporterOptions) {
    this.#tty = !o.quiet && Deno.stdout.isTerminal();
  }

  /** Open the JSONL file (truncating it). */
  async open(): Promise<void> {
    if (this.o.json) {
      this.#file = await Deno.open(this.o.json, { write: true, create: true, truncate: true });
    }
  }

  #print(line: string): void {
    if (this.o.quiet) return;
    if (this.#bar) this.#bar.stop(), this.#bar = null;
    console.log(line);
  }

  async #record(r: Record<string, unknown>): Promise<void> {
    if (this.#file) await this.#file.write(new TextEncoder().encode(JSON.stringify(r) + "\n"));
  }

  /** Print the run header. */
  header(h: Record<string, string | number>): void {
    this.#print(pc.bold("tempo pretrain"));
    for (const [k, v] of Object.entries(h)) {
      const value = typeof v === "number" ? v.toLocaleString("en-US") : v;
      this.#print(`  ${pc.dim(k.padEnd(10))} ${value}`);
    }
    this.#start = performance.now();
  }

  /** One step's record. */
  step(r: StepRecord): void {
    this.#peak = Math.max(this.#peak, r.memory.peak);
    this.#windowSteps++;
    this.#windowMs += r.ms;
    const logged = r.step % this.o.logEvery === 0 || r.step === this.o.steps || r.step === 1;
    const ms = this.#windowMs / this.#windowSteps;
    const rate = 1000 / ms;
    if (logged) {
      this.#windowSteps = 0;
      this.#windowMs = 0;
      void this.#record({
        step: r.step,
        loss: r.loss,
        lr: r.lr,
        gradNorm: r.gradNorm,
        ms,
        tokensPerSec: r.tokensPerStep * rate,
        samplesPerSec: r.samplesPerStep * rate,
        peakBytes: r.memory.peak,
        peakByCategory: r.memory.peakByCategory,
      });
    }
    if (this.o.quiet) return;
    if (logged) {
      const line = [
        `step ${String(r.step).padStart(5)}`,
        `loss ${r.loss.toFixed(4)}`,
        `lr ${r.lr.toExponential(2)}`,
        `norm ${r.gradNorm.toFixed(3)}`,
        `${ms.toFixed(1)} ms`,
        `${Math.round(r.tokensPerStep * rate)} tok/s`,
        `${(r.samplesPerStep * rate).toFixed(1)} samples/s`,
        `peak ${formatBytes(r.memory.peak)}`,
      ].join(" | ");
      this.#print(`${line} ${pc.dim(`(${formatCategories(r.memory.peakByCategory)})`)}`);
    }
    if (this.#tty) {
      if (!this.#bar) {
        this.#bar = new cliProgress.SingleBar({
          format: " {bar} {value}/{total} steps | loss {loss}",
          hideCursor: true,
          clearOnComplete: true,
        }, cliProgress.Presets.shades_classic);
        this.#bar.start(this.o.steps, r.step, { loss: r.loss.toFixed(4) });
      } else this.#bar.update(r.step, { loss: r.loss.toFixed(4) });
    }
  }

  /** A validation result. */
  eval(step: number, loss: number): void {
    this.#print(pc.cyan(`eval at step ${step}: val loss ${loss.toFixed(4)}`));
    void this.#record({ step, valLoss: loss });
  }

  /** A checkpoint was written. */
  saved(step: number, dir: string): void {
    this.#print(pc.dim(`checkpoint at step ${step} -> ${dir}`));
  }

  /** Print and record the summary; returns it. */
  async summary(s: LoopSummary, run: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.#bar) this.#bar.stop(), this.#bar = null;
    const recs = s.records;
    const steady = recs.length > 2 ? recs.slice(1) : recs; // the first step compiles kernels
    const ms = steady.reduce((a, r) => a + r.ms, 0) / Math.max(1, steady.length);
    const tps = steady.length ? (steady[0].tokensPerStep * 1000) / ms : 0;
    const first = recs[0], last = recs[recs.length - 1];
    const summary = {
      summary: true,
      ...run,
      steps: last?.step ?? 0,
      firstLoss: first?.loss ?? null,
      finalLoss: last?.loss ?? null,
      valLoss: s.evals.length ? s.evals[s.evals.length - 1].loss : null,
      msPerStep: ms,
      tokensPerSec: tps,
      peakBytes: this.#peak,
      peakByCategory: last?.memory.peakByCategory ?? null,
      pooledBytes: last?.memory.pooledBytes ?? null,
      wallSeconds: (performance.now() - this.#start) / 1000,
    };
    await this.#record(summary);
    this.#file?.close();
    const lines = [
      pc.bold("summary"),
      `  loss       ${summary.firstLoss?.toFixed(4)} -> ${summary.finalLoss?.toFixed(4)}` +
      (summary.valLoss !== null ? ` (val ${summary.valLoss.toFixed(4)})` : ""),
      `  speed      ${ms.toFixed(1)} ms/step, ${Math.round(tps)} tokens/s`,
      `  peak mem   ${formatBytes(this.#peak)}` +
      (last ? ` (${formatCategories(last.memory.peakByCategory)})` : ""),
      `  GPU held   ${
        formatBytes(last?.memory.pooledBytes ?? 0)
      } in pooled tensor buffers (size classes)` +
      (typeof run.backendBytes === "number"
        ? ` + ${formatBytes(run.backendBytes)} backend scratch (matmul textures, uniforms, staging)`
        : ""),
    ];
    if (Array.isArray(run.guardedLayerNorms) && run.guardedLayerNorms.length > 0) {
      lines.push(
        `  guard      LayerNorms keeping their input (gamma ~ 0): ${
          run.guardedLayerNorms.join(", ")
        }`,
      );
    }
    if (!this.o.silent) console.log(lines.join("\n"));
    return summary;
  }
}

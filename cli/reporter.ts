/**
 * Prints a run: header, one line per logged step (and a progress bar on a terminal), evaluations,
 * checkpoints and a summary; optionally JSONL records to a file.
 * @module
 */
import cliProgress from "cli-progress";
import pc from "picocolors";
import { fsError } from "../core/fs_error.ts";
import type { LoopSummary } from "../core/train/loop.ts";
import { ensureFolder, parentOf } from "../core/train/run_folder.ts";
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
  /** Data-parallel ranks (tokens/s are all ranks', peaks one rank's); default 1. */
  ranks?: number;
}

/** 65_000 ms -> "1m05s"; 3_700_000 -> "1h01m"; 9_400 -> "9s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}

/** 4 significant digits, exponent form beyond 1e5 (gradient norms). */
function sig4(x: number): string {
  return Math.abs(x) >= 1e5 ? x.toExponential(2) : x.toPrecision(4);
}

/** A compact count: 9_704 -> "9704", 1_234_567 -> "1.23M". */
function count(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : String(Math.round(x));
}

/**
 * One logged step as a line of at most 100 columns (the category split of the peak is in the
 * JSONL and the summary). `compile` marks the first step of a process, which includes shader
 * compilation and is left out of the summary's averages.
 */
export function stepLine(r: StepRecord, ms: number, compile: boolean, ranks = 1): string {
  const rate = 1000 / ms;
  return [
    `step ${String(r.step).padStart(5)}`,
    `loss ${r.loss.toFixed(4)}`,
    `lr ${r.lr.toExponential(2)}`,
    `norm ${sig4(r.gradNorm)}`,
    compile
      ? `${ms.toFixed(0)} ms incl. compile`
      : `${ms.toFixed(ms < 100 ? 1 : 0)} ms | ${count(r.tokensPerStep * rate)} tok/s`,
    `peak ${formatBytes(r.memory.peak)}${ranks > 1 ? "/rank" : ""}`,
  ].join(" | ");
}

/** The progress bar's fields: tokens/s, elapsed and remaining time. */
export function progressFields(p: {
  step: number;
  total: number;
  elapsedMs: number;
  msPerStep: number;
  tokensPerStep: number;
}): { tps: string; elapsed: string; eta: string } {
  const ok = p.msPerStep > 0 && Number.isFinite(p.msPerStep);
  return {
    tps: ok ? count((p.tokensPerStep * 1000) / p.msPerStep) : "?",
    elapsed: formatDuration(p.elapsedMs),
    eta: ok ? formatDuration(Math.max(0, p.total - p.step) * p.msPerStep) : "?",
  };
}

/** Where a stopped run stands, for its summary. */
export interface StopInfo {
  /** The signal that stopped it. */
  signal: string;
  /** The run folder to resume from, when one was written. */
  out?: string;
}

/** Prints and records a run. */
export class Reporter {
  #file: Deno.FsFile | null = null;
  #bar: cliProgress.SingleBar | null = null;
  #peak = 0;
  /** Steps and milliseconds since the last printed line: step times are averaged over the window,
   * because two steps can complete within one readback poll (~11 ms on the software adapter). */
  #windowSteps = 0;
  /** Steps whose update the loss scaler skipped. */
  #skipped = 0;
  #windowMs = 0;
  #start = performance.now();
  #seen = 0;
  #steadyMs = 0;
  readonly #tty: boolean;

  constructor(readonly o: ReporterOptions) {
    this.#tty = !o.quiet && Deno.stdout.isTerminal();
  }

  /**
   * Open the JSONL file before training starts (so an unwritable path fails at once): truncated
   * for a new run, appended to when `append` (a resumed run continues the file).
   */
  async open(append = false): Promise<void> {
    const path = this.o.json;
    if (!path) return;
    try {
      const parent = parentOf(path);
      if (parent !== ".") await ensureFolder(parent);
      this.#file = await Deno.open(path, {
        write: true,
        create: true,
        append,
        truncate: !append,
      });
    } catch (e) {
      throw fsError(e, "open the --json file", path, "pass a writable --json path");
    }
  }

  #print(line: string): void {
    if (this.o.quiet) return;
    if (this.#bar) this.#bar.stop(), this.#bar = null;
    console.log(line);
  }

  /** Write one JSONL record now (synchronously: a full disk fails here, by name). */
  record(r: Record<string, unknown>): void {
    if (!this.#file) return;
    const bytes = new TextEncoder().encode(JSON.stringify(r) + "\n");
    try {
      for (let at = 0; at < bytes.length;) at += this.#file.writeSync(bytes.subarray(at));
    } catch (e) {
      throw fsError(e, "write the --json file", this.o.json!);
    }
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

  /** A line of its own (e.g. what was cleaned up before the run). */
  note(line: string): void {
    this.#print(pc.dim(line));
  }

  /** One step's record. */
  step(r: StepRecord): void {
    this.#peak = Math.max(this.#peak, r.memory.peak);
    if (r.skipped) {
      // GradScaler's skipped step: always logged (JSONL and a line), whatever --log-every says.
      this.#skipped++;
      this.record({ step: r.step, skipped: true, lossScale: r.lossScale, loss: r.loss });
      this.#print(pc.yellow(
        `step ${String(r.step).padStart(5)} | gradients overflowed f16 at loss scale ` +
          `${r.lossScale}: update skipped, scale backed off`,
      ));
    }
    const compile = this.#seen === 0;
    this.#seen++;
    if (!compile) this.#steadyMs += r.ms;
    this.#windowSteps++;
    this.#windowMs += r.ms;
    const logged = compile || r.step % this.o.logEvery === 0 || r.step === this.o.steps;
    const ms = this.#windowMs / this.#windowSteps;
    const rate = 1000 / ms;
    if (logged) {
      this.#windowSteps = 0;
      this.#windowMs = 0;
      this.record({
        step: r.step,
        loss: r.loss,
        lr: r.lr,
        gradNorm: r.gradNorm,
        ms,
        ...(compile ? { includesCompile: true } : {}),
        tokensPerSec: r.tokensPerStep * rate,
        samplesPerSec: r.samplesPerStep * rate,
        peakBytes: r.memory.peak,
        peakByCategory: r.memory.peakByCategory,
        ...(r.lossScale !== undefined ? { lossScale: r.lossScale } : {}),
      });
    }
    if (this.o.quiet) return;
    if (logged) this.#print(stepLine(r, ms, compile, this.o.ranks));
    if (this.#tty) {
      const steady = this.#seen > 1 ? this.#steadyMs / (this.#seen - 1) : NaN;
      const { tps, elapsed, eta } = progressFields({
        step: r.step,
        total: this.o.steps,
        elapsedMs: performance.now() - this.#start,
        msPerStep: steady,
        tokensPerStep: r.tokensPerStep,
      });
      const payload = { loss: r.loss.toFixed(4), tps, elapsed, left: eta };
      if (!this.#bar) {
        this.#bar = new cliProgress.SingleBar({
          // {eta} and {duration} are cli-progress's own (they restart with each bar, and a bar is
          // restarted after every printed line): ours are {left} and {elapsed}, from the run.
          format:
            " {bar} {value}/{total} | loss {loss} | {tps} tok/s | {elapsed} elapsed, ETA {left}",
          hideCursor: true,
          clearOnComplete: true,
        }, cliProgress.Presets.shades_classic);
        this.#bar.start(this.o.steps, r.step, payload);
      } else this.#bar.update(r.step, payload);
    }
  }

  /** A validation result. */
  eval(step: number, loss: number): void {
    this.#print(pc.cyan(`eval at step ${step}: val loss ${loss.toFixed(4)}`));
    this.record({ step, valLoss: loss });
  }

  /** A checkpoint was written. */
  saved(step: number, dir: string): void {
    this.#print(pc.dim(`checkpoint at step ${step} -> ${dir}`));
  }

  /** Print and record the summary; returns it. */
  summary(
    s: LoopSummary,
    run: Record<string, unknown>,
    stop?: StopInfo,
  ): Record<string, unknown> {
    if (this.#bar) this.#bar.stop(), this.#bar = null;
    const recs = s.records;
    // The first step of a process compiles the kernels: left out of the averages when there are
    // others.
    const steady = recs.length > 1 ? recs.slice(1) : recs;
    const ms = steady.reduce((a, r) => a + r.ms, 0) / Math.max(1, steady.length);
    const tps = steady.length ? (steady[0].tokensPerStep * 1000) / ms : 0;
    const first = recs[0], last = recs[recs.length - 1];
    const summary = {
      summary: true,
      ...run,
      steps: last?.step ?? null,
      firstLoss: first?.loss ?? null,
      finalLoss: last?.loss ?? null,
      valLoss: s.evals.length ? s.evals[s.evals.length - 1].loss : null,
      msPerStep: ms,
      tokensPerSec: tps,
      firstStepMs: first?.ms ?? null,
      averagedSteps: recs.length > 1 ? [recs[1].step, last.step] : null,
      peakBytes: this.#peak,
      peakByCategory: last?.memory.peakByCategory ?? null,
      pooledBytes: last?.memory.pooledBytes ?? null,
      wallSeconds: (performance.now() - this.#start) / 1000,
      interrupted: !!stop,
      signal: stop?.signal ?? null,
      checkpoint: s.saved?.dir ?? null,
      skippedSteps: this.#skipped,
      lossScale: last?.lossScale ?? null,
    };
    this.record(summary);
    this.#file?.close();
    this.#file = null;
    const speed = recs.length > 1
      ? `  speed      ${ms.toFixed(1)} ms/step, ${Math.round(tps)} tokens/s (${
        recs.length > 2 ? `steps ${recs[1].step}-${last.step}` : `step ${last.step}`
      }; step ${first.step} took ${first.ms.toFixed(0)} ms with shader compilation)`
      : first
      ? `  speed      ${first.ms.toFixed(0)} ms for one step, shader compilation included`
      : `  speed      no step ran`;
    const lines = [
      pc.bold("summary"),
      `  loss       ${first ? first.loss.toFixed(4) : "-"} -> ${
        last ? last.loss.toFixed(4) : "-"
      }` +
      (summary.valLoss !== null ? ` (val ${summary.valLoss.toFixed(4)})` : ""),
      speed,
      `  peak mem   ${formatBytes(this.#peak)}` +
      (last ? ` (${formatCategories(last.memory.peakByCategory)})` : ""),
      `  GPU held   ${
        formatBytes(last?.memory.pooledBytes ?? 0)
      } in pooled tensor buffers (size classes)` +
      (typeof run.backendBytes === "number"
        ? ` + ${formatBytes(run.backendBytes)} backend scratch (matmul textures, uniforms, staging)`
        : ""),
    ];
    if (typeof run.ranks === "number" && run.ranks > 1 && recs.length > 1) {
      const n = run.ranks;
      lines.push(
        `  ranks      ${n}: ${Math.round(tps)} tokens/s in total, ${
          Math.round(tps / n)
        } per rank; peak ${formatBytes(Number(run.peakBytesMaxRank))} per rank (the most), ` +
          `${formatBytes(Number(run.peakBytesAllRanks))} in total`,
      );
      const ar = Number(run.allReduceMsPerStep);
      if (ar > 0) {
        lines.push(
          `  all-reduce ${ar.toFixed(1)} ms/step from rank 0's gradients on the host to their ` +
            `write-back, waiting for the slowest rank included (${
              ((100 * ar) / ms).toFixed(1)
            }% of a step; ${formatBytes(Number(run.gradientBytes))} of gradients a rank)`,
        );
      }
    }
    if (typeof run.precision === "string") {
      lines.push(
        `  precision  ${run.precision}` +
          (last?.lossScale !== undefined
            ? `: loss scale ${last.lossScale} at the last step, ${this.#skipped} step(s) skipped ` +
              "on overflow"
            : ""),
      );
    }
    if (Array.isArray(run.guardedLayerNorms) && run.guardedLayerNorms.length > 0) {
      lines.push(
        `  guard      LayerNorms keeping their input (gamma ~ 0): ${
          run.guardedLayerNorms.join(", ")
        }`,
      );
    }
    if (stop) {
      lines.push(
        `  stopped    by ${stop.signal} after step ${last?.step ?? "-"} of ${this.o.steps}` +
          (s.saved
            ? `; checkpoint ${s.saved.dir}; continue with --resume ${stop.out ?? s.saved.dir}`
            : stop.out
            ? "; no step ran, so no checkpoint was written"
            : "; nothing saved (no --out)"),
      );
    }
    if (!this.o.silent) console.log(lines.join("\n"));
    return summary;
  }
}

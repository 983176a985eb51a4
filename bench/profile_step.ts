/**
 * Where a training step's time goes, by kernel, two ways:
 * - `timestamps` (where the device has `timestamp-query`): one real step (after warm-up steps) is
 *   encoded in the encoder's profiling mode, each dispatch in its own compute pass with
 *   timestamps; per kernel name the GPU time of its dispatches is summed. Copies and clears run
 *   outside passes and are not timed (counted). The profiled step's wall time is shown beside
 *   the unprofiled one: the difference is the cost of a pass per dispatch.
 * - `replay`: records every dispatch, copy and clear of one real step, then replays those of each
 *   kernel name (or command kind) alone, in their original order and with their original
 *   bindings, in one submit, and times that submit from the host; the sync floor (an empty
 *   submit + onSubmittedWorkDone) is subtracted. Replay ignores data dependencies (kernels read
 *   whatever the buffers hold), which does not change their cost: no kernel here branches on its
 *   data except on masks and ignore indices. Works on every adapter.
 * `--timing both` prints the two side by side (how the timestamps were checked against the
 * replay on lavapipe: docs/device.md). Sums are compared with the timed step.
 * Run: `deno run -A bench/profile_step.ts [--model bert-base] [--layers 2] [--batch 4]
 * [--seq 128] [--tempo all|none] [--masks bits|regen|bytes] [--reps 3]
 * [--timing timestamps|replay|both] [--json FILE]`.
 * @module
 */
import { type DispatchBinding, Encoder } from "../core/encoder.ts";
import { acquireGpu } from "../core/gpu.ts";
import type { KernelSpec } from "../core/kernel.ts";
import { ALL_TEMPO, BASELINE, tempoLabel, type TempoOptions } from "../layers/tempo_options.ts";
import { resolveConfig } from "../models/config.ts";
import { setup } from "./train_step.ts";

/** One recorded command: a kernel name (or "(copy ...)", "(clear)") and how to record it again. */
interface Recorded {
  name: string;
  replay: (enc: Encoder) => void;
}

/** An encoder that can also keep each dispatch, copy and clear it records, to replay them. */
class RecordingEncoder extends Encoder {
  log: Recorded[] | null = null;

  override dispatch(
    spec: KernelSpec,
    bindings: Record<string, DispatchBinding>,
    uniforms: Record<string, number>,
    groups: readonly [number, number?, number?],
  ): void {
    const u = { ...uniforms };
    this.log?.push({ name: spec.name, replay: (e) => e.dispatch(spec, bindings, u, groups) });
    super.dispatch(spec, bindings, uniforms, groups);
  }

  override copy(...args: Parameters<Encoder["copy"]>): void {
    this.log?.push({ name: "(copy buffer to buffer)", replay: (e) => e.copy(...args) });
    super.copy(...args);
  }

  override copyToTexture(...args: Parameters<Encoder["copyToTexture"]>): void {
    this.log?.push({ name: "(copy buffer to texture)", replay: (e) => e.copyToTexture(...args) });
    super.copyToTexture(...args);
  }

  override clear(...args: Parameters<Encoder["clear"]>): void {
    this.log?.push({ name: "(clear buffer)", replay: (e) => e.clear(...args) });
    super.clear(...args);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Per kernel name (or command kind): commands in the step and their time. */
export interface KernelRow {
  name: string;
  calls: number;
  /** Replay: host-timed ms of replaying them alone (sync floor subtracted). */
  replayMs?: number;
  /** Timestamps: summed GPU ms of their passes (untimed commands: absent). */
  gpuMs?: number;
}

/** What `profileStep` measured. */
export interface StepProfile {
  adapter: string;
  model: string;
  batch: number;
  seq: number;
  tempo: string;
  /** Median ms of the unprofiled steps. */
  stepMs: number;
  /** Wall ms of the step profiled with timestamps (a pass per dispatch). */
  profiledStepMs?: number;
  /** Sync floor subtracted from each replay, ms. */
  floorMs?: number;
  rows: KernelRow[];
  /** Sum of the rows' replay ms, and of their GPU ms. */
  replaySumMs?: number;
  gpuSumMs?: number;
}

/** Options of `profileStep`. */
export interface ProfileOptions {
  model: string;
  layers: number;
  batch: number;
  seq: number;
  tempo: TempoOptions;
  reps: number;
  /** `auto`: timestamps where the device has them, else replay. */
  timing: "timestamps" | "replay" | "both" | "auto";
}

/** Profile one step of a model: see the module doc. */
export async function profileStep(o: ProfileOptions): Promise<StepProfile> {
  const cfg = resolveConfig(o.model, o.model.endsWith("tiny") ? {} : { layers: o.layers });
  const gpu = await acquireGpu();
  const timing = o.timing === "auto" ? (gpu.hasTimestamps ? "timestamps" : "replay") : o.timing;
  if (timing !== "replay" && !gpu.hasTimestamps) {
    throw new Error(
      `--timing ${timing}: ${gpu.description} has no 'timestamp-query'; use --timing replay`,
    );
  }
  const enc = new RecordingEncoder(gpu);
  const { trainer, src } = await setup(gpu, cfg, o.batch, o.seq, o.tempo, enc);
  const stepMs: number[] = [];
  for (let i = 0; i < o.reps; i++) {
    enc.log = i === o.reps - 1 ? [] : null;
    const t0 = performance.now();
    await trainer.step(src);
    stepMs.push(performance.now() - t0);
  }
  const log = enc.log ?? [];
  enc.log = null;
  const rows = new Map<string, KernelRow>();
  for (const r of log) {
    const row = rows.get(r.name) ?? { name: r.name, calls: 0 };
    row.calls++;
    rows.set(r.name, row);
  }
  const out: StepProfile = {
    adapter: gpu.description,
    model: `${cfg.name} (L=${cfg.layers}, C=${cfg.hidden}, V=${cfg.vocabSize})`,
    batch: o.batch,
    seq: o.seq,
    tempo: tempoLabel(o.tempo),
    stepMs: median(stepMs),
    rows: [],
  };
  if (timing !== "replay") {
    enc.startProfile();
    const t0 = performance.now();
    await trainer.step(src);
    const timings = await enc.stopProfile();
    out.profiledStepMs = performance.now() - t0;
    for (const row of rows.values()) if (!row.name.startsWith("(")) row.gpuMs = 0;
    for (const d of timings) {
      const row = rows.get(d.name);
      if (row) row.gpuMs = (row.gpuMs ?? 0) + d.ns / 1e6;
      else rows.set(d.name, { name: d.name, calls: 1, gpuMs: d.ns / 1e6 });
    }
    out.gpuSumMs = [...rows.values()].reduce((s, r) => s + (r.gpuMs ?? 0), 0);
  }
  if (timing !== "timestamps") {
    const floors: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await enc.sync();
      floors.push(performance.now() - t0);
    }
    const floor = median(floors);
    const byName = new Map<string, Recorded[]>();
    for (const r of log) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
    for (const [name, list] of byName) {
      const ts: number[] = [];
      for (let i = 0; i < o.reps; i++) {
        const t0 = performance.now();
        for (const r of list) r.replay(enc);
        await enc.sync();
        ts.push(performance.now() - t0 - floor);
      }
      rows.get(name)!.replayMs = Math.max(0, median(ts));
    }
    out.floorMs = floor;
    out.replaySumMs = [...rows.values()].reduce((s, r) => s + (r.replayMs ?? 0), 0);
  }
  const key = (r: KernelRow) => r.gpuMs ?? r.replayMs ?? 0;
  out.rows = [...rows.values()].sort((a, b) => key(b) - key(a));
  return out;
}

/** Print a profile as a table. */
export function printProfile(p: StepProfile): void {
  const cols: [string, (r: KernelRow) => number | undefined, number | undefined][] = [];
  if (p.gpuSumMs !== undefined) cols.push(["GPU ms", (r) => r.gpuMs, p.gpuSumMs]);
  if (p.replaySumMs !== undefined) cols.push(["replay ms", (r) => r.replayMs, p.replaySumMs]);
  console.log(
    `adapter: ${p.adapter}\n${p.model} B=${p.batch} T=${p.seq} tempo ${p.tempo}: step ` +
      `${p.stepMs.toFixed(1)} ms (median, unprofiled)` +
      (p.profiledStepMs !== undefined
        ? `, ${p.profiledStepMs.toFixed(1)} ms profiled (a pass per dispatch)`
        : "") +
      (p.floorMs !== undefined ? `; replay: sync floor ${p.floorMs.toFixed(1)} ms subtracted` : ""),
  );
  const both = cols.length === 2;
  console.log(
    `${"kernel".padEnd(40)} ${"calls".padStart(5)}${
      cols.map(([h]) => `${h.padStart(11)} ${"%".padStart(5)}`).join("")
    }${both ? "  GPU/replay".padStart(12) : ""}`,
  );
  const cell = (v: number | undefined, total: number | undefined) =>
    v === undefined
      ? `${"untimed".padStart(11)} ${"".padStart(5)}`
      : `${v.toFixed(2).padStart(11)} ${(100 * v / (total || 1)).toFixed(1).padStart(5)}`;
  for (const r of p.rows) {
    const ratio = both && r.gpuMs !== undefined && r.replayMs
      ? (r.gpuMs / r.replayMs).toFixed(2).padStart(12)
      : "";
    console.log(
      `${r.name.slice(0, 40).padEnd(40)} ${String(r.calls).padStart(5)}${
        cols.map(([, f, t]) => cell(f(r), t)).join("")
      }${ratio}`,
    );
  }
  console.log(
    `${"sum".padEnd(46)}${
      cols.map(([, , t]) => `${(t ?? 0).toFixed(1).padStart(11)} ${"".padStart(5)}`).join("")
    } (step ${p.stepMs.toFixed(1)})`,
  );
}

/** Run the profile and print a table (and write it as JSON with --json FILE). */
export async function main(args: string[] = []): Promise<StepProfile> {
  const arg = (k: string, d: string) => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 ? args[i + 1] : d;
  };
  const timing = arg("timing", "auto");
  if (!["auto", "timestamps", "replay", "both"].includes(timing)) {
    throw new Error(`--timing ${timing}: use timestamps, replay, both or auto`);
  }
  const p = await profileStep({
    model: arg("model", "bert-base"),
    layers: Number(arg("layers", "2")),
    batch: Number(arg("batch", "4")),
    seq: Number(arg("seq", "128")),
    reps: Number(arg("reps", "3")),
    tempo: arg("tempo", "all") === "none"
      ? BASELINE
      : { ...ALL_TEMPO, masks: arg("masks", "bits") as TempoOptions["masks"] },
    timing: timing as ProfileOptions["timing"],
  });
  printProfile(p);
  const json = arg("json", "");
  if (json) await Deno.writeTextFile(json, JSON.stringify(p, null, 1));
  return p;
}

if (import.meta.main) await main(Deno.args);

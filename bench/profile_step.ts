/**
 * Where a training step's time goes, by kernel: records every dispatch, copy and clear of one real
 * training step (after a warm-up step), then replays those of each kernel name (or command kind)
 * alone, in their original order and with their original bindings, in one submit, and times that
 * submit. The sync floor
 * (an empty submit + onSubmittedWorkDone) is subtracted. Sums are compared with the timed step.
 * Replay ignores data dependencies (kernels read whatever the buffers hold), which does not change
 * their cost: no kernel here branches on its data except on masks and ignore indices.
 * Run: `deno run -A bench/profile_step.ts [--model bert-base] [--layers 2] [--batch 4]
 * [--seq 128] [--tempo all|none] [--masks bits|regen|bytes] [--attention standard|fused] [--reps 3]`.
 * @module
 */
import { type DispatchBinding, Encoder } from "../core/encoder.ts";
import { acquireGpu } from "../core/gpu.ts";
import type { KernelSpec } from "../core/kernel.ts";
import {
  ALL_TEMPO,
  BASELINE,
  parseAttention,
  tempoLabel,
  type TempoOptions,
} from "../layers/tempo_options.ts";
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

/** Run the profile and print a table. */
export async function main(args: string[] = []): Promise<void> {
  const arg = (k: string, d: string) => {
    const i = args.indexOf(`--${k}`);
    return i >= 0 ? args[i + 1] : d;
  };
  const layers = Number(arg("layers", "2")), B = Number(arg("batch", "4"));
  const T = Number(arg("seq", "128")), reps = Number(arg("reps", "3"));
  const name = arg("model", "bert-base");
  const cfg = resolveConfig(name, name.endsWith("tiny") ? {} : { layers });
  const tempo: TempoOptions = {
    ...(arg("tempo", "all") === "none"
      ? BASELINE
      : { ...ALL_TEMPO, masks: arg("masks", "bits") as TempoOptions["masks"] }),
    attentionKind: parseAttention(arg("attention", "standard")),
  };
  const gpu = await acquireGpu();
  const enc = new RecordingEncoder(gpu);
  const { trainer, src } = await setup(gpu, cfg, B, T, tempo, enc);
  const stepMs: number[] = [];
  for (let i = 0; i < reps; i++) {
    enc.log = i === reps - 1 ? [] : null;
    const t0 = performance.now();
    await trainer.step(src);
    stepMs.push(performance.now() - t0);
  }
  const log = enc.log ?? [];
  enc.log = null;
  const floors: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await enc.sync();
    floors.push(performance.now() - t0);
  }
  const floor = median(floors);
  const byName = new Map<string, Recorded[]>();
  for (const r of log) {
    const list = byName.get(r.name) ?? [];
    list.push(r);
    byName.set(r.name, list);
  }
  const rows: { name: string; calls: number; ms: number }[] = [];
  for (const [kname, list] of byName) {
    const ts: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      for (const r of list) r.replay(enc);
      await enc.sync();
      ts.push(performance.now() - t0 - floor);
    }
    rows.push({ name: kname, calls: list.length, ms: Math.max(0, median(ts)) });
  }
  rows.sort((a, b) => b.ms - a.ms);
  const total = rows.reduce((s, r) => s + r.ms, 0);
  const step = median(stepMs);
  console.log(
    `adapter: ${gpu.description}\n${cfg.name} (L=${cfg.layers}, C=${cfg.hidden}, V=${cfg.vocabSize})` +
      ` B=${B} T=${T} tempo ${tempoLabel(tempo)}: step ${step.toFixed(1)} ms (median of ${reps}),` +
      ` ${log.length} commands; sync floor ${floor.toFixed(1)} ms subtracted per kernel`,
  );
  console.log(
    `${"kernel".padEnd(34)} ${"calls".padStart(5)} ${"ms".padStart(9)} ${"%".padStart(6)}`,
  );
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(34)} ${String(r.calls).padStart(5)} ${r.ms.toFixed(1).padStart(9)} ${
        (100 * r.ms / total).toFixed(1).padStart(6)
      }`,
    );
  }
  console.log(
    `${"sum of kernels".padEnd(40)} ${total.toFixed(1).padStart(9)} (step ${step.toFixed(1)})`,
  );
  const flash = rows.filter((r) => r.name.startsWith("flash_")).reduce((s, r) => s + r.ms, 0);
  if (flash > 0) {
    console.log(
      `fused attention kernels (flash_*): ${flash.toFixed(1)} ms, ${
        (100 * flash / total).toFixed(1)
      }% of the kernels' sum`,
    );
  }
}

if (import.meta.main) await main(Deno.args);

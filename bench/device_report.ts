/**
 * The last step of bench/device.sh: merges the parts' JSON files and statuses into one results
 * file and prints a short summary (the end of a device run's output is what comes back first).
 * Run: `deno run -A bench/device_report.ts PARTS_DIR OUT_FILE SMOKE SECONDS [VULKAN_NOTE]`.
 * @module
 */
import type { DeviceInfo } from "./device_info.ts";
import type { MatmulReport, MatmulResult } from "./matmul.ts";
import type { StepProfile } from "./profile_step.ts";
import type { StepCase } from "./train_step.ts";

/** One part's outcome. */
export interface PartStatus {
  name: string;
  status: "ok" | "failed" | "timeout" | "skipped";
  seconds: number;
  note: string;
}

/** The merged results file. */
export interface DeviceReport {
  /** Format of this file. */
  format: "tempo-device-run";
  version: 1;
  smoke: boolean;
  seconds: number;
  vulkan: string;
  parts: PartStatus[];
  info: DeviceInfo | null;
  matmul: MatmulReport | null;
  trainBase: { adapter: string; cases: StepCase[] } | null;
  trainLarge: { adapter: string; cases: StepCase[] } | null;
  paper: { adapter: string; cases: StepCase[] } | null;
  profile: StepProfile | null;
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return null;
  }
}

/** Merge a device run's parts (`dir` holds status.tsv and each part's JSON). */
export async function merge(
  dir: string,
  smoke: boolean,
  seconds: number,
  vulkan: string,
): Promise<DeviceReport> {
  const parts = (await Deno.readTextFile(`${dir}/status.tsv`)).trim().split("\n")
    .filter((l) => l !== "").map((l) => {
      const [name, status, secs, note] = l.split("\t");
      return { name, status, seconds: Number(secs), note: note ?? "" } as PartStatus;
    });
  return {
    format: "tempo-device-run",
    version: 1,
    smoke,
    seconds,
    vulkan,
    parts,
    info: await readJson(`${dir}/info.json`),
    matmul: await readJson(`${dir}/matmul.json`),
    trainBase: await readJson(`${dir}/train_base.json`),
    trainLarge: await readJson(`${dir}/train_large.json`),
    paper: await readJson(`${dir}/paper.json`),
    profile: await readJson(`${dir}/profile.json`),
  };
}

/** x with d decimals (3 significant digits below 100 when d is omitted), "n/a" when absent. */
const fmt = (x: number | null | undefined, d?: number) =>
  x == null ? "n/a" : x.toFixed(d ?? (Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2));

/** The summary lines of a report. */
export function summary(r: DeviceReport): string[] {
  const out: string[] = [];
  out.push(`== tempo device run${r.smoke ? " (smoke)" : ""}: ${r.seconds} s`);
  if (r.info) {
    out.push(
      `adapter: ${r.info.description}; software ${r.info.isSoftware}; timestamps ` +
        `${r.info.hasTimestamps}; subgroups ${r.info.hasSubgroups}; f32 peak ${
          r.info.peak ? `${r.info.peak.f32Tflops} TFLOP/s` : "n/a"
        }; kernels: ${r.info.kernels}`,
    );
  }
  if (r.vulkan) out.push(`vulkan: ${r.vulkan}`);
  out.push(
    `parts: ${
      r.parts.map((p) => `${p.name} ${p.status}${p.seconds ? ` ${p.seconds}s` : ""}`).join(", ")
    }`,
  );
  if (r.matmul) {
    // The best variant per shape, layout and dtype.
    const best = new Map<string, MatmulResult>();
    const rate = (x: MatmulResult) => x.gpuGflops ?? x.wallGflops ?? 0;
    for (const x of r.matmul.results) {
      const k = `${x.shape} ${x.layout} ${x.dtype}`;
      if (!best.has(k) || rate(x) > rate(best.get(k)!)) best.set(k, x);
    }
    out.push(`matmul (${r.matmul.timing} timing), best variant per cell:`);
    for (const [k, x] of best) {
      out.push(
        `  ${k.padEnd(22)} ${fmt(rate(x)).padStart(7)} GFLOP/s ${
          x.peakFraction == null ? "" : `${(100 * x.peakFraction).toFixed(1)}% of peak `
        }(${x.variant}${x.tile ? ` ${x.tile}` : ""})`,
      );
    }
    if (r.matmul.skipped.length) out.push(`  skipped for time: ${r.matmul.skipped.length} cells`);
  }
  const steps = (what: string, t: { cases: StepCase[] } | null) => {
    for (const c of t?.cases ?? []) {
      out.push(
        `${what}: ${c.model} L=${c.layers} T=${c.seq}${
          c.memoryLimit ? ` under ${(c.memoryLimit / 2 ** 30).toFixed(2)} GiB` : ""
        }, matmul ${fmt(c.matmulGflops)} GFLOP/s`,
      );
      for (const s of c.rows) {
        out.push(
          `  ${s.label.padEnd(12)} B=${String(s.batch).padStart(4)} ${
            fmt(s.msPerStep, 1).padStart(8)
          } ms ` +
            `${fmt(s.tokensPerSec).padStart(8)} tok/s ${fmt(s.gflops).padStart(7)} GFLOP/s (${
              fmt((100 * s.gflops) / c.matmulGflops)
            }% of matmul) peak ${fmt(s.peakBytes / 2 ** 30, 2)} GiB`,
        );
      }
      const base = c.rows[0];
      for (const s of c.rows.slice(1)) {
        out.push(
          `  ${s.label} vs ${base.label}: tokens/s x${fmt(s.tokensPerSec / base.tokensPerSec, 2)}`,
        );
      }
    }
  };
  steps("train", r.trainBase);
  steps("train", r.trainLarge);
  steps("paper", r.paper);
  if (r.profile) {
    const p = r.profile, top = p.rows.slice(0, 5);
    out.push(
      `profile: ${p.model} B=${p.batch} T=${p.seq}: step ${fmt(p.stepMs, 1)} ms; GPU sum ${
        fmt(p.gpuSumMs, 1)
      } ms; replay sum ${fmt(p.replaySumMs, 1)} ms; top: ${
        top.map((k) => `${k.name} ${fmt(k.gpuMs ?? k.replayMs, 1)}`).join(", ")
      }`,
    );
  }
  return out;
}

/** Merge, write and print. */
export async function main(args: string[]): Promise<void> {
  const [dir, outFile, smoke, seconds, vulkan] = args;
  const r = await merge(dir, smoke === "1", Number(seconds), vulkan ?? "");
  await Deno.writeTextFile(outFile, JSON.stringify(r, null, 1));
  for (const line of summary(r)) console.log(line);
}

if (import.meta.main) await main(Deno.args);

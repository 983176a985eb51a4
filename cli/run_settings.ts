/**
 * A run's settings, saved in every checkpoint and checked on `--resume`: flags left out are taken
 * from the checkpoint; flags given that differ from it are refused, all differences in one
 * message, unless `--allow-changes` names them.
 * @module
 */
import { TempoError } from "../core/errors.ts";

/** The flags that define a run (what a resumed run must continue), by option key. */
export interface RunSettings {
  /** --model. */
  model: string;
  /** --config, parsed (file or inline JSON). */
  config: Record<string, unknown>;
  /** --tempo. */
  tempo: string;
  /** --masks (null: the default for the Tempo switches). */
  masks: string | null;
  /** --attention (standard or fused). */
  attention: string;
  /** --precision (f32, f16 or bf16; --fp16 and --bf16 give it too). */
  precision: string;
  /** --batch-size. */
  batchSize: number;
  /** --grad-accum. */
  gradAccum: number;
  /** --seq-len. */
  seqLen: number;
  /** --steps. */
  steps: number;
  /** --lr. */
  lr: number;
  /** --min-lr (null: lr/10). */
  minLr: number | null;
  /** --warmup. */
  warmup: number;
  /** --schedule. */
  schedule: string;
  /** --weight-decay. */
  weightDecay: number;
  /** --grad-clip. */
  gradClip: number;
  /** --dropout (null: the preset's). */
  dropout: number | null;
  /** --seed. */
  seed: number;
  /** --data (null: the embedded corpus). */
  data: string | null;
  /** --format. */
  format: string;
  /** --val-every. */
  valEvery: number;
  /** --val-steps. */
  valSteps: number;
}

/** The keys of RunSettings, in the order messages list them. */
export const RUN_SETTING_KEYS: readonly (keyof RunSettings)[] = [
  "model",
  "config",
  "tempo",
  "masks",
  "attention",
  "precision",
  "batchSize",
  "gradAccum",
  "seqLen",
  "steps",
  "lr",
  "minLr",
  "warmup",
  "schedule",
  "weightDecay",
  "gradClip",
  "dropout",
  "seed",
  "data",
  "format",
  "valEvery",
  "valSteps",
];

/** What checkpoints written before a setting existed ran with. */
const LEGACY: Partial<Record<keyof RunSettings, unknown>> = { precision: "f32" };

/** `batchSize` -> `--batch-size`. */
export function flagOf(key: string): string {
  return "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

/** `--batch-size`, `batch-size`, `batch_size`, `batchSize` -> `batchSize`. */
export function keyOf(flag: string): string {
  return flag.replace(/^-+/, "").replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The settings of parsed flags (undefined becomes null, for JSON). */
export function settingsOf(
  o: { [K in keyof RunSettings]?: unknown },
  config: Record<string, unknown>,
): RunSettings {
  const s: Record<string, unknown> = {};
  for (const k of RUN_SETTING_KEYS) s[k] = k === "config" ? config : (o[k] ?? null);
  return s as unknown as RunSettings;
}

const canonical = (v: unknown): string =>
  JSON.stringify(
    v,
    (_k, x) =>
      x && typeof x === "object" && !Array.isArray(x)
        ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
        : x,
  );

const shown = (key: string, v: unknown): string =>
  v === null ? "(not set)" : key === "config" ? canonical(v) : String(v);

/** How `resume` treats flags. */
export interface ResumeFlags {
  /** Option keys the user gave explicitly; undefined = all were given (programmatic callers). */
  given?: readonly string[];
  /** `--allow-changes`: comma list of flags that may differ, or "all". */
  allowChanges?: string;
  /** The checkpoint's folder and step, for messages. */
  checkpoint: string;
  /** The checkpoint's step. */
  step: number;
}

function allowed(spec: string | undefined): Set<string> | "all" {
  if (!spec) return new Set();
  if (spec.trim() === "all") return "all";
  const keys = new Set<string>();
  for (const part of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const k = keyOf(part);
    if (!(RUN_SETTING_KEYS as readonly string[]).includes(k)) {
      throw new TempoError(
        `--allow-changes: '${part}' is not a setting of the run`,
        `name some of ${RUN_SETTING_KEYS.map((k) => flagOf(k).slice(2)).join(", ")}, or all`,
      );
    }
    keys.add(k);
  }
  return keys;
}

/**
 * The settings a resumed run continues with: each setting the user did not give is the
 * checkpoint's; a given one that differs must be allowed by `--allow-changes`, otherwise one
 * TempoError lists every difference. `--steps` at or below the checkpoint's step is refused.
 */
export function resumeSettings(
  flags: RunSettings,
  saved: Partial<RunSettings> | undefined,
  r: ResumeFlags,
): RunSettings {
  if (!saved || typeof saved !== "object") {
    throw new TempoError(
      `--resume ${r.checkpoint}: the checkpoint carries no run settings`,
      "it was not written by this version of tempo; start the run again",
    );
  }
  const given = r.given ? new Set(r.given) : null;
  const allow = allowed(r.allowChanges);
  const out = { ...flags } as Record<string, unknown>;
  const differences: string[] = [];
  for (const k of RUN_SETTING_KEYS) {
    // A setting newer than the checkpoint: the flag's value stands, unless the checkpoint's
    // value is known (runs before --precision were f32).
    if (!(k in saved) && !(k in LEGACY)) continue;
    const was = (k in saved ? (saved as Record<string, unknown>)[k] : LEGACY[k]) ?? null;
    const isGiven = given ? given.has(k) : true;
    if (!isGiven) {
      out[k] = was;
      continue;
    }
    if (canonical(flags[k]) === canonical(was)) continue;
    if (allow === "all" || allow.has(k)) continue;
    differences.push(
      `  ${flagOf(k)} ${shown(k, flags[k])} differs from the checkpoint's ${shown(k, was)}`,
    );
  }
  if (differences.length > 0) {
    const names = differences.map((d) => d.trim().split(" ")[0].slice(2));
    throw new TempoError(
      `--resume ${r.checkpoint}: ${
        differences.length === 1 ? "a flag differs" : "flags differ"
      } from the checkpoint's run:\n${differences.join("\n")}`,
      `leave ${
        differences.length === 1 ? "it" : "them"
      } out to continue the run as saved, or pass --allow-changes ${names.join(",")}`,
    );
  }
  const steps = out.steps as number;
  if (steps <= r.step) {
    const fromCheckpoint = steps === saved.steps;
    throw new TempoError(
      fromCheckpoint
        ? `--resume ${r.checkpoint}: the run is complete (step ${r.step} of --steps ${steps})`
        : `--steps ${steps} is not beyond the checkpoint's step ${r.step} (${r.checkpoint})`,
      `to train further pass --steps above ${r.step}` +
        (allow === "all" || (allow instanceof Set && allow.has("steps"))
          ? ""
          : " with --allow-changes steps") +
        " (the learning-rate schedule then spans the new total)",
    );
  }
  return out as unknown as RunSettings;
}

/**
 * A sweep fanned out to a cluster: shard i of n takes the grid's jobs i, i + n, i + 2n, ...
 * (the grid's order is deterministic: `sweepJobs`), every run writes its own result file under
 * `DIR/runs/`, so a re-run skips what is finished, and `tempo sweep merge` gathers the files of
 * every shard into the files of a one-machine sweep.
 *
 * The shard comes from flags, or from the scheduler: a Slurm job array (SLURM_ARRAY_TASK_ID,
 * counted from SLURM_ARRAY_TASK_MIN in steps of SLURM_ARRAY_TASK_STEP, of
 * SLURM_ARRAY_TASK_COUNT), or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX; the count, the
 * Job's completions, from --shard-count or TEMPO_SHARD_COUNT).
 *
 * A run file holds the record, the run's own key (a hash of everything its result depends on:
 * the job and the training settings; a re-run reuses a file only under the same key) and its
 * place in the grid (index, total, and the grid's hash; merge refuses files of different grids).
 * @module
 */
import { TempoError } from "../core/errors.ts";
import type { SweepJob, SweepOptions, SweepRecord } from "./sweep.ts";

/** Which jobs of the grid this process runs. */
export interface Shard {
  /** In [0, count). */
  index: number;
  /** Shards in all. */
  count: number;
  /** Where the numbers came from, for the progress lines. */
  source: string;
}

/** Reads an environment variable. */
export type Env = (name: string) => string | undefined;

const env: Env = (name) => {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
};

function int(what: string, v: string | number): number {
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isSafeInteger(n) || n < 0 || (typeof v === "string" && !/^\d+$/.test(v.trim()))) {
    throw new TempoError(`${what} is ${v}, not a non-negative integer`);
  }
  return n;
}

/**
 * The shard of this process: from --shard-index/--shard-count, else a Slurm job array's or a
 * Kubernetes Indexed Job's variables; null runs the whole grid.
 */
export function resolveShard(
  flags: { shardIndex?: number; shardCount?: number },
  getEnv: Env = env,
): Shard | null {
  const countEnv = getEnv("TEMPO_SHARD_COUNT");
  let shard: Shard | null = null;
  if (flags.shardIndex !== undefined) {
    const count = flags.shardCount ?? (countEnv ? int("TEMPO_SHARD_COUNT", countEnv) : undefined);
    if (count === undefined) {
      throw new TempoError("--shard-index needs --shard-count", "pass both, e.g. 0 and 4");
    }
    shard = { index: flags.shardIndex, count, source: "--shard-index" };
  } else if (getEnv("SLURM_ARRAY_TASK_ID") !== undefined) {
    const id = int("SLURM_ARRAY_TASK_ID", getEnv("SLURM_ARRAY_TASK_ID")!);
    const min = int("SLURM_ARRAY_TASK_MIN", getEnv("SLURM_ARRAY_TASK_MIN") ?? "0");
    const step = int("SLURM_ARRAY_TASK_STEP", getEnv("SLURM_ARRAY_TASK_STEP") ?? "1");
    const count = flags.shardCount ??
      int("SLURM_ARRAY_TASK_COUNT", getEnv("SLURM_ARRAY_TASK_COUNT") ?? "");
    if ((id - min) % Math.max(1, step) !== 0) {
      throw new TempoError(
        `SLURM_ARRAY_TASK_ID ${id} is not MIN ${min} plus a multiple of STEP ${step}`,
        "use an array of evenly spaced ids (--array=0-7 or 1-8 or 0-14:2), or --shard-index",
      );
    }
    shard = { index: (id - min) / Math.max(1, step), count, source: "Slurm job array" };
  } else if (getEnv("JOB_COMPLETION_INDEX") !== undefined) {
    const index = int("JOB_COMPLETION_INDEX", getEnv("JOB_COMPLETION_INDEX")!);
    const count = flags.shardCount ?? (countEnv ? int("TEMPO_SHARD_COUNT", countEnv) : undefined);
    if (count === undefined) {
      throw new TempoError(
        "JOB_COMPLETION_INDEX is set but not the number of shards",
        "pass --shard-count (the Job's completions) or set TEMPO_SHARD_COUNT",
      );
    }
    shard = { index, count, source: "Kubernetes Indexed Job" };
  } else if (flags.shardCount !== undefined) {
    throw new TempoError("--shard-count needs --shard-index", "pass both, e.g. 0 and 4");
  }
  if (shard && !(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count)) {
    throw new TempoError(
      `shard ${shard.index} of ${shard.count} (${shard.source}) does not exist`,
      "shards are numbered 0 .. count - 1",
    );
  }
  return shard;
}

/** Whether grid job `index` belongs to `shard` (every job when there is none). */
export function inShard(index: number, shard: Shard | null): boolean {
  return !shard || index % shard.count === shard.index;
}

/** A result file of one run. */
export interface RunFile {
  /** "tempo-sweep-run". */
  format: string;
  /** 1. */
  version: number;
  /** Hash of what the run's result depends on. */
  key: string;
  /** The run's place in its grid. */
  grid: { index: number; total: number; hash: string };
  /** The sweep's memory limit (the peak chart draws it). */
  memoryLimitBytes: number | null;
  /** The run's record. */
  record: SweepRecord;
}

const FORMAT = "tempo-sweep-run";

async function sha(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Everything of the options a run's result depends on (the grid's lists aside). */
function runSettings(o: SweepOptions): Record<string, unknown> {
  return {
    steps: o.steps,
    lr: o.lr,
    warmup: o.warmup,
    seed: o.seed,
    data: o.data ?? null,
    format: o.format,
    dropout: o.dropout ?? null,
    gradAccum: o.gradAccum,
    valSteps: o.valSteps,
    memoryLimit: o.memoryLimit ?? null,
  };
}

/** The key of one run: its job and the training settings. */
export function runKey(o: SweepOptions, job: SweepJob): Promise<string> {
  const { model, tempo, batchSize, seqLen } = job;
  // f32 runs keep the keys they had before --precision existed.
  const precision = job.precision === "f32" ? {} : { precision: job.precision };
  return sha(JSON.stringify({ model, tempo, ...precision, batchSize, seqLen, ...runSettings(o) }));
}

/** The hash of a grid: its jobs in order and the training settings. */
export function gridHash(o: SweepOptions, jobs: readonly SweepJob[]): Promise<string> {
  const order = jobs.map((j) =>
    j.precision === "f32"
      ? [j.model, j.tempo, j.batchSize, j.seqLen]
      : [j.model, j.tempo, j.precision, j.batchSize, j.seqLen]
  );
  return sha(JSON.stringify({ order, ...runSettings(o) }));
}

/** The run's file name under runs/: readable, and unique by its key. */
export function runFileName(job: SweepJob, key: string): string {
  const tempo = job.tempo.replaceAll("/", "-").replaceAll(",", "+");
  const p = job.precision === "f32" ? "" : `_${job.precision}`;
  return `${job.model}_seq${job.seqLen}_${tempo}${p}_b${job.batchSize}_${key.slice(0, 10)}.json`;
}

/** Write a run's file (atomically: a temporary name, then a rename). */
export async function writeRunFile(dir: string, name: string, file: RunFile): Promise<void> {
  await Deno.mkdir(`${dir}/runs`, { recursive: true });
  const tmp = `${dir}/runs/.${name}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(file, null, 1) + "\n");
  await Deno.rename(tmp, `${dir}/runs/${name}`);
}

/** The run files under `dir/runs` (none when it does not exist). */
export async function readRunFiles(dir: string): Promise<{ path: string; file: RunFile }[]> {
  const out: { path: string; file: RunFile }[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(`${dir}/runs`)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return out;
    throw e;
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!e.isFile || !e.name.endsWith(".json") || e.name.startsWith(".")) continue;
    const path = `${dir}/runs/${e.name}`;
    let file: RunFile;
    try {
      file = JSON.parse(await Deno.readTextFile(path));
    } catch {
      throw new TempoError(`${path} is not a sweep run file (not JSON)`, "remove it or fix it");
    }
    if (file.format !== FORMAT || file.version !== 1 || !file.record) {
      throw new TempoError(`${path} is not a tempo sweep run file`, "remove it or fix it");
    }
    out.push({ path, file });
  }
  return out;
}

/** A new run file's contents. */
export function runFile(
  key: string,
  grid: RunFile["grid"],
  memoryLimitBytes: number | undefined,
  record: SweepRecord,
): RunFile {
  return {
    format: FORMAT,
    version: 1,
    key,
    grid,
    memoryLimitBytes: memoryLimitBytes ?? null,
    record,
  };
}

/** What `mergeRuns` found. */
export interface Merged {
  /** The records in grid order. */
  records: SweepRecord[];
  /** The files, in grid order. */
  files: RunFile[];
  /** Grid indices without a run file. */
  missing: number[];
  /** Jobs in the grid. */
  total: number;
  /** The sweep's memory limit. */
  memoryLimitBytes: number | undefined;
}

/**
 * Gather the run files of `dirs` (each a sweep's --out): one grid only (else a TempoError
 * naming two folders that differ), each index once (the same run found twice, e.g. in a shared
 * folder and a copy, counts once; two different results for one index are refused).
 */
export async function mergeRuns(dirs: readonly string[]): Promise<Merged> {
  const byIndex = new Map<number, { path: string; file: RunFile }>();
  let grid: { hash: string; total: number; from: string } | null = null;
  for (const dir of dirs) {
    let files;
    try {
      files = await readRunFiles(dir);
    } catch (e) {
      if (e instanceof TempoError) throw e;
      throw new TempoError(`cannot read ${dir}/runs: ${(e as Error).message.split("\n")[0]}`);
    }
    if (files.length === 0) {
      throw new TempoError(
        `${dir} has no run files (runs/*.json)`,
        "pass the --out folders of the shards",
      );
    }
    for (const f of files) {
      const g = f.file.grid;
      if (!grid) grid = { hash: g.hash, total: g.total, from: f.path };
      else if (g.hash !== grid.hash) {
        throw new TempoError(
          `${f.path} belongs to another sweep than ${grid.from} (different grids or settings)`,
          "merge the shards of one sweep (the same flags, only --shard-index differing)",
        );
      }
      const seen = byIndex.get(g.index);
      if (seen && JSON.stringify(seen.file.record) !== JSON.stringify(f.file.record)) {
        throw new TempoError(
          `${seen.path} and ${f.path} hold different results for run ${g.index + 1}`,
          "keep one of them",
        );
      }
      byIndex.set(g.index, f);
    }
  }
  const total = grid!.total;
  const files: RunFile[] = [], missing: number[] = [];
  for (let i = 0; i < total; i++) {
    const f = byIndex.get(i);
    if (f) files.push(f.file);
    else missing.push(i);
  }
  return {
    records: files.map((f) => f.record),
    files,
    missing,
    total,
    memoryLimitBytes: files[0]?.memoryLimitBytes ?? undefined,
  };
}

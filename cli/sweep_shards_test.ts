import { TempoError } from "../core/errors.ts";
import { main } from "./main.ts";
import type { SweepRecord } from "./sweep.ts";
import { resolveShard } from "./sweep_shards.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

const env = (vars: Record<string, string>) => (name: string) => vars[name];

function refused(f: () => unknown, want: RegExp): void {
  let message = "";
  try {
    f();
  } catch (e) {
    assert(e instanceof TempoError, String(e));
    message = e.message;
  }
  assert(want.test(message), `'${message}' should match ${want}`);
}

Deno.test("resolveShard: flags, Slurm arrays from any first id and step, Kubernetes indices", () => {
  assert(resolveShard({}, env({})) === null, "no shard: the whole grid");
  const f = resolveShard({ shardIndex: 2, shardCount: 3 }, env({ SLURM_ARRAY_TASK_ID: "9" }))!;
  assert(f.index === 2 && f.count === 3, "flags win over the scheduler");
  // --array=1-4 numbers tasks 1..4: shard = id - min.
  const slurm = {
    SLURM_ARRAY_TASK_ID: "3",
    SLURM_ARRAY_TASK_MIN: "1",
    SLURM_ARRAY_TASK_COUNT: "4",
  };
  const s = resolveShard({}, env(slurm))!;
  assert(s.index === 2 && s.count === 4 && s.source === "Slurm job array", JSON.stringify(s));
  // --array=10-16:2 numbers tasks 10, 12, 14, 16.
  const stepped = resolveShard(
    {},
    env({
      ...slurm,
      SLURM_ARRAY_TASK_ID: "14",
      SLURM_ARRAY_TASK_MIN: "10",
      SLURM_ARRAY_TASK_STEP: "2",
    }),
  )!;
  assert(stepped.index === 2, `stepped ${stepped.index}`);
  const k8s = resolveShard({}, env({ JOB_COMPLETION_INDEX: "1", TEMPO_SHARD_COUNT: "2" }))!;
  assert(k8s.index === 1 && k8s.count === 2 && k8s.source === "Kubernetes Indexed Job", "k8s");
  assert(
    resolveShard({ shardCount: 5 }, env({ JOB_COMPLETION_INDEX: "4" }))!.count === 5,
    "flag count",
  );
  refused(() => resolveShard({}, env({ JOB_COMPLETION_INDEX: "1" })), /not the number of shards/);
  refused(() => resolveShard({ shardIndex: 1 }, env({})), /needs --shard-count/);
  refused(() => resolveShard({ shardCount: 2 }, env({})), /needs --shard-index/);
  refused(() => resolveShard({ shardIndex: 2, shardCount: 2 }, env({})), /does not exist/);
  refused(
    () => resolveShard({}, env({ ...slurm, SLURM_ARRAY_TASK_ID: "0" })),
    /does not exist|not a/,
  );
});

/** Run the CLI with its output captured. */
async function run(args: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  const log = console.log, error = console.error;
  console.log = () => {};
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    return { code: await main(args), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

const readJsonl = async (path: string): Promise<SweepRecord[]> =>
  (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));

/** The fields of a record that do not depend on timing. */
const deterministic = (r: SweepRecord) =>
  JSON.stringify([
    r.model,
    r.tempo,
    r.masks,
    r.batchSize,
    r.seqLen,
    r.steps,
    r.status,
    r.finalLoss,
    r.valLoss,
    r.peakBytes,
    r.predictedPeakBytes,
    r.error,
  ]);

/**
 * 4 jobs in grid order: none b2, none b64, all b2, all b64; batch 64 is planned over the limit
 * (over-budget, nothing trained), so 2 runs train: round robin gives both to shard 0.
 */
const GRID = [
  "--models",
  "gpt2-tiny",
  "--tempo",
  "none;all",
  "--batch-sizes",
  "2,64",
  "--seq-lens",
  "16",
  "--steps",
  "2",
  "--memory-limit",
  "8MiB",
];

Deno.test({
  name: "a grid run as 2 shards and merged equals the grid run whole; re-runs skip finished runs",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "tempo-shards-" });
  try {
    const whole = await run(["sweep", "--out", `${root}/whole`, ...GRID]);
    assert(whole.code === 0, whole.err);
    for (const i of [0, 1]) {
      const r = await run([
        "sweep",
        "--out",
        `${root}/s${i}`,
        ...GRID,
        "--shard-index",
        `${i}`,
        "--shard-count",
        "2",
      ]);
      assert(r.code === 0, r.err);
      assert(r.err.includes(`shard ${i} of 2 (--shard-index): 2 of 4 runs`), r.err);
    }
    // Shard 0 took grid jobs 1 and 3 (batch 2), shard 1 jobs 2 and 4 (batch 64).
    const s0 = [...Deno.readDirSync(`${root}/s0/runs`)].map((e) => e.name).sort();
    assert(s0.length === 2 && s0.every((n) => n.includes("_b2_")), s0.join());
    // An incomplete set is refused unless --partial.
    const half = await run(["sweep", "merge", `${root}/s0`, "--out", `${root}/half`]);
    assert(
      half.code === 1 && /2 of 4 runs have no result file \(runs 2, 4\)/.test(half.err),
      half.err,
    );
    const merged = await run([
      "sweep",
      "merge",
      `${root}/s0`,
      `${root}/s1`,
      "--out",
      `${root}/merged`,
    ]);
    assert(merged.code === 0, merged.err);
    const a = await readJsonl(`${root}/whole/runs.jsonl`),
      b = await readJsonl(`${root}/merged/runs.jsonl`);
    assert(a.length === 4 && b.length === 4, `${a.length} and ${b.length} records`);
    const statuses = a.map((r) => r.status).join();
    assert(statuses === "ok,over-budget,ok,over-budget", statuses);
    for (let i = 0; i < 4; i++) {
      assert(
        deterministic(a[i]) === deterministic(b[i]),
        `run ${i + 1}:\n${deterministic(a[i])}\n${deterministic(b[i])}`,
      );
    }
    const peak = (d: string) => Deno.readTextFileSync(`${root}/${d}/peak_memory.svg`);
    assert(peak("whole") === peak("merged"), "the same peak-memory chart");
    const csv = (d: string) => Deno.readTextFileSync(`${root}/${d}/runs.csv`).split("\n")[0];
    assert(csv("whole") === csv("merged"), "the same CSV columns");
    // Re-running a shard trains nothing; the merged folder is a complete sweep too.
    const again = await run([
      "sweep",
      "--out",
      `${root}/s1`,
      ...GRID,
      "--shard-index",
      "1",
      "--shard-count",
      "2",
    ]);
    assert(
      again.code === 0 && (again.err.match(/finished earlier/g) ?? []).length === 2,
      again.err,
    );
    const inMerged = await run(["sweep", "--out", `${root}/merged`, ...GRID]);
    assert((inMerged.err.match(/finished earlier/g) ?? []).length === 4, inMerged.err);
    // Other settings are another sweep: nothing is reused, and merging it with these is refused.
    const other = await run([
      "sweep",
      "--out",
      `${root}/other`,
      ...GRID,
      "--steps",
      "1",
      "--shard-index",
      "1",
      "--shard-count",
      "2",
    ]);
    assert(other.code === 0 && !/finished earlier/.test(other.err), other.err);
    const mixed = await run([
      "sweep",
      "merge",
      `${root}/s1`,
      `${root}/other`,
      "--out",
      `${root}/mixed`,
    ]);
    assert(mixed.code === 1 && /belongs to another sweep/.test(mixed.err), mixed.err);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/**
 * Test helpers for whole runs: pretrain in this process, and `tempo pretrain` as a child process
 * (this checkout's cli/main.ts, run by the same Deno) whose stderr is readable as it comes, so a
 * test can wait for a line (a TEMPO_FAULT pause, a signal's acknowledgement) before acting: no
 * sleeps, no timing.
 * @module
 */
import { testGpu } from "../core/testing.ts";
import { parsePretrainArgs, pretrain } from "./pretrain.ts";

/** A running child pretrain. */
export interface ChildPretrain {
  /** The process. */
  readonly process: Deno.ChildProcess;
  /**
   * Resolves when stderr shows `re` after the previous match (rejects if stderr ends first).
   */
  waitFor(re: RegExp): Promise<RegExpExecArray>;
  /**
   * Wait for the next TEMPO_FAULT pause; throws (and kills the child) unless it is at `where`
   * (e.g. "step:3"), so a wrong expectation fails instead of leaving the child waiting.
   */
  paused(where: string): Promise<void>;
  /** Write a line to the child's stdin (resumes a TEMPO_FAULT pause). */
  resume(): Promise<void>;
  /** Wait for the exit; returns its status and everything it printed. */
  done(): Promise<{ status: Deno.CommandStatus; stdout: string; stderr: string }>;
}

/** The checkout's root folder. */
export const ROOT = new URL("..", import.meta.url).pathname;

/** A one-layer gpt2-tiny: the child's start (not its steps) is most of a run's time. */
export const CRASH_CONFIG = '{"layers": 1, "hidden": 32, "heads": 2, "ffn": 64}';

/** The run the crash and signal tests train (add --steps; validation every 2 steps, dropout). */
export const CRASH_RUN = [
  "--model",
  "gpt2-tiny",
  "--config",
  CRASH_CONFIG,
  "--batch-size",
  "2",
  "--seq-len",
  "16",
  "--val-every",
  "2",
  "--val-steps",
  "2",
  "--seed",
  "3",
  "--dropout",
  "0.1",
];

/** Flags of an invocation that are not the run's settings. */
export const QUIET = ["--log-every", "1", "--quiet"];

/** Run pretrain in this process. */
export async function inProcess(args: string[]): Promise<Record<string, unknown>> {
  return await pretrain(parsePretrainArgs([...QUIET, ...args]), {
    gpu: await testGpu(),
    silent: true,
  });
}

/** The smallest GPT-2 run of the in-process pretrain tests: gpt2-tiny at B = 2, T = 16. */
export const TINY_GPT2 = ["--model", "gpt2-tiny", "--batch-size", "2", "--seq-len", "16"];

/** Run pretrain in this process on TINY_GPT2, with `args` after (so they win). */
export function tinyInProcess(args: string[]): Promise<Record<string, unknown>> {
  return inProcess([...TINY_GPT2, ...args]);
}

/**
 * Run tinyInProcess(args), which must fail with an error of class `kind` (default any Error)
 * whose message matches `pattern`; returns the message.
 */
export async function tinyInProcessError(
  args: string[],
  pattern: RegExp,
  kind: abstract new (...args: never[]) => Error = Error,
): Promise<string> {
  let err: unknown;
  try {
    await tinyInProcess(args);
  } catch (e) {
    err = e;
  }
  const msg = err instanceof Error ? err.message : String(err);
  if (!(err instanceof kind) || !pattern.test(msg)) {
    throw new Error(`args ${args.join(" ")}: expected ${kind.name} ${pattern}, got: ${msg}`);
  }
  return msg;
}

/** Every step record (loss) and evaluation (val loss) of JSONL files, as "kind step" -> value. */
export async function logged(...paths: string[]): Promise<[string, number][]> {
  const out: [string, number][] = [];
  for (const p of paths) {
    for (const line of (await Deno.readTextFile(p)).trim().split("\n").filter(Boolean)) {
      const r = JSON.parse(line);
      if (r.summary || r.resumed) continue;
      if (typeof r.loss === "number") out.push([`loss ${r.step}`, r.loss]);
      if (typeof r.valLoss === "number") out.push([`val ${r.step}`, r.valLoss]);
    }
  }
  return out;
}

/** Check that every logged number equals the uninterrupted run's, and that all were logged. */
export function sameAsReference(
  what: string,
  reference: [string, number][],
  got: [string, number][],
): void {
  const ref = new Map(reference);
  for (const [k, v] of got) {
    if (ref.get(k) !== v) throw new Error(`${what}: ${k} is ${v}, uninterrupted ${ref.get(k)}`);
  }
  const missing = [...ref.keys()].filter((k) => !got.some(([g]) => g === k));
  if (missing.length > 0) throw new Error(`${what}: never logged ${missing.join(", ")}`);
}

/** `deno run` of this checkout's `tempo pretrain` with the task's permissions, then `args`. */
export function pretrainCommand(args: string[]): string[] {
  const allow = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi"];
  return [Deno.execPath(), "run", ...allow, `${ROOT}cli/main.ts`, "pretrain", ...args];
}

/**
 * Start `tempo pretrain args` with `env` added (e.g. TEMPO_FAULT); `launch` is a launcher's
 * command line to put in front (`mpirun -np 2`), or `argv` a whole command line to run instead.
 */
export function spawnPretrain(
  args: string[],
  env: Record<string, string> = {},
  launch: { prefix?: string[]; argv?: string[] } = {},
): ChildPretrain {
  const argv = launch.argv ?? [...(launch.prefix ?? []), ...pretrainCommand(args)];
  const process = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "", ended = false, seen = 0; // lines are matched after the previous match
  const waiters: { re: RegExp; ok: (m: RegExpExecArray) => void; fail: (e: Error) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = w.re.exec(stderr.slice(seen));
      if (m) {
        seen += m.index + m[0].length;
        waiters.splice(waiters.indexOf(w), 1);
        w.ok(m);
      } else if (ended) {
        waiters.splice(waiters.indexOf(w), 1);
        w.fail(new Error(`the child ended without printing ${w.re}; stderr:\n${stderr}`));
      }
    }
  };
  const errDone = (async () => {
    for await (const chunk of process.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
      check();
    }
    ended = true;
    check();
  })();
  const outDone = new Response(process.stdout).text();
  const stdin = process.stdin.getWriter();
  const waitFor = (re: RegExp) =>
    new Promise<RegExpExecArray>((ok, fail) => {
      waiters.push({ re, ok, fail });
      check();
    });
  return {
    process,
    waitFor,
    async paused(where) {
      const m = await waitFor(/TEMPO_FAULT paused at (.*) \(pid \d+\)/);
      if (m[1] !== where) {
        process.kill("SIGKILL");
        throw new Error(`the child paused at ${m[1]}, not at ${where}; stderr:\n${stderr}`);
      }
    },
    resume: () => stdin.write(new TextEncoder().encode("\n")),
    async done() {
      const status = await process.status;
      await errDone;
      await stdin.close().catch(() => {});
      return { status, stdout: await outDone, stderr };
    },
  };
}

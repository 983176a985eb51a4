/**
 * Deterministic fault injection for tests of crash safety (the `TEMPO_FAULT` testing hook, see
 * docs/testing_hooks.md): at a named point between the writes of a checkpoint, or after a step,
 * the process kills itself with SIGKILL, throws an injected ENOSPC, or pauses until a line arrives
 * on stdin. A spec is a comma list of rules:
 *
 *     save:<point>:<kill|enospc|pause>[:<step>]    at a point of the save of checkpoint <step>
 *     step:<n>:<kill|pause>                          after step n's record has been reported
 *
 * A save rule without a step fires the first time its point is reached. Each rule fires once.
 * @module
 */
import { TempoError } from "../errors.ts";

/** The points of a checkpoint save, in the order they are reached (see checkpoint.ts). */
export const SAVE_POINTS = [
  "mkdir", // the temporary folder exists, empty
  "model-half", // half of model.safetensors is written
  "model", // model.safetensors is written and synced
  "optimizer-half",
  "optimizer",
  "state",
  "manifest", // manifest.json is written: the folder is complete but not committed
  "rename", // committed (renamed to step-NNNNNN), `latest` not yet updated
  "latest", // `latest` updated, older checkpoints not yet pruned
  "prune", // an old checkpoint is renamed to a temporary name, not yet removed
] as const;

/** A point of a checkpoint save. */
export type SavePoint = typeof SAVE_POINTS[number];

/** What a rule does when it fires. */
export type FaultAction = "kill" | "enospc" | "pause";

interface Rule {
  text: string;
  where: "save" | "step";
  point: string;
  action: FaultAction;
  step?: number;
  fired: boolean;
}

const ACTIONS: readonly FaultAction[] = ["kill", "enospc", "pause"];

function bad(spec: string, why: string): TempoError {
  return new TempoError(
    `TEMPO_FAULT '${spec}': ${why}`,
    `rules are save:<${SAVE_POINTS.join("|")}>:<kill|enospc|pause>[:<step>] or ` +
      "step:<n>:<kill|pause>, comma separated (a testing hook: unset it for real runs)",
  );
}

/** A parsed TEMPO_FAULT spec. `FaultPlan.none` does nothing. */
export class FaultPlan {
  /** A plan without rules. */
  static readonly none: FaultPlan = new FaultPlan([]);

  private constructor(readonly rules: readonly Rule[]) {}

  /** Parse a spec (undefined or empty = no rules); throws a TempoError naming a bad rule. */
  static parse(spec: string | undefined): FaultPlan {
    if (!spec || !spec.trim()) return new FaultPlan([]);
    const rules = spec.split(",").map((text) => text.trim()).filter(Boolean).map((text) => {
      const [where, point, action, step, ...rest] = text.split(":");
      if (rest.length > 0) throw bad(text, "too many fields");
      if (!ACTIONS.includes(action as FaultAction)) {
        throw bad(text, `unknown action '${action ?? ""}'`);
      }
      if (where === "save") {
        if (!(SAVE_POINTS as readonly string[]).includes(point ?? "")) {
          throw bad(text, `unknown save point '${point ?? ""}'`);
        }
        const n = step === undefined ? undefined : Number(step);
        if (n !== undefined && !(Number.isInteger(n) && n >= 0)) {
          throw bad(text, `step '${step}' is not an integer`);
        }
        return { text, where, point, action: action as FaultAction, step: n, fired: false };
      }
      if (where === "step") {
        const n = Number(point);
        if (!(Number.isInteger(n) && n >= 1)) throw bad(text, `step '${point}' is not an integer`);
        if (action === "enospc") throw bad(text, "enospc applies to save points only");
        if (step !== undefined) throw bad(text, "too many fields");
        return { text, where, point, action: action as FaultAction, step: n, fired: false };
      }
      throw bad(text, `'${where ?? ""}' is neither save nor step`);
    });
    return new FaultPlan(rules as Rule[]);
  }

  /** Called at each point of a save of the checkpoint of `step`. */
  async save(point: SavePoint, step: number): Promise<void> {
    for (const r of this.rules) {
      if (r.fired || r.where !== "save" || r.point !== point) continue;
      if (r.step !== undefined && r.step !== step) continue;
      r.fired = true;
      await fire(r, `save:${point} (checkpoint of step ${step})`);
    }
  }

  /** Called after each step's record has been reported. */
  async afterStep(step: number): Promise<void> {
    for (const r of this.rules) {
      if (r.fired || r.where !== "step" || r.step !== step) continue;
      r.fired = true;
      await fire(r, `step:${step}`);
    }
  }
}

async function fire(r: Rule, where: string): Promise<void> {
  if (r.action === "kill") {
    Deno.kill(Deno.pid, "SIGKILL");
    await new Promise(() => {}); // not reached: SIGKILL cannot be handled
  }
  if (r.action === "enospc") {
    throw Object.assign(
      new Error(`No space left on device (os error 28) [injected by TEMPO_FAULT ${r.text}]`),
      { code: "ENOSPC" },
    );
  }
  console.error(`tempo: TEMPO_FAULT paused at ${where} (pid ${Deno.pid}); a line on stdin resumes`);
  const byte = new Uint8Array(1);
  while (true) {
    const n = await Deno.stdin.read(byte);
    if (n === null || byte[0] === 10) return;
  }
}

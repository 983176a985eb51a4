import { TempoError } from "../core/errors.ts";
import { GPU_TEST } from "../core/testing.ts";
import { SAVE_POINTS } from "../core/train/fault.ts";
import { verifyFolder } from "../core/train/manifest.ts";
import {
  CRASH_RUN,
  inProcess,
  logged,
  QUIET,
  sameAsReference,
  spawnPretrain,
} from "./pretrain_testing.ts";

Deno.test({
  name: "crash safety: a pretrain killed at every point of a save resumes exactly, or refuses",
  ...GPU_TEST,
}, async () => {
  const dir = await Deno.makeTempDir();
  await inProcess([...CRASH_RUN, "--steps", "4", "--json", `${dir}/full.jsonl`]);
  const reference = await logged(`${dir}/full.jsonl`);
  const outcomes: string[] = [];
  // Each point of the save of step 2 (step 1 is committed; --keep-last 1 prunes it), and the
  // first point of the first save (nothing committed yet).
  const cases = [...SAVE_POINTS.map((p) => `save:${p}:kill:2`), "save:mkdir:kill:1"];
  const outOf = (fault: string) => `${dir}/${fault.replaceAll(":", "_")}`;
  const saving = ["--save-every", "1", "--keep-last", "1"];
  // The children mostly wait on the device's polls: a few at a time take the wall time down.
  const queue = [...cases];
  const kill = async () => {
    for (let fault; (fault = queue.shift()) !== undefined;) {
      const out = outOf(fault);
      const child = spawnPretrain(
        [
          ...CRASH_RUN,
          "--steps",
          "4",
          ...QUIET,
          ...saving,
          "--out",
          out,
          "--json",
          `${out}.a.jsonl`,
        ],
        { TEMPO_FAULT: fault },
      );
      const { status, stderr } = await child.done();
      if (status.signal !== "SIGKILL") {
        throw new Error(
          `${fault}: the child was not killed (${JSON.stringify(status)}): ${stderr}`,
        );
      }
    }
  };
  await Promise.all([kill(), kill(), kill()]);
  for (const fault of cases) {
    const out = outOf(fault);
    // Resume with no run flags at all: they come from the checkpoint.
    let resumedFrom: unknown, err: unknown;
    try {
      const s = await inProcess([...saving, "--resume", out, "--json", `${out}.b.jsonl`]);
      resumedFrom = s.resumedFrom;
    } catch (e) {
      err = e;
    }
    if (err !== undefined) {
      // Refusing is right only when no checkpoint was committed, and must say so.
      if (
        !(err instanceof TempoError) || fault !== "save:mkdir:kill:1" ||
        !/no committed checkpoint there \(only \.tmp-step-000001-\d+, left by an interrupted save\)/
          .test(err.message)
      ) throw new Error(`${fault}: ${err}`);
      outcomes.push(`${fault}: refused`);
      continue;
    }
    const committed = ["rename", "latest", "prune"].some((p) => fault.includes(`:${p}:`));
    if (resumedFrom !== (committed ? 2 : 1)) {
      throw new Error(`${fault}: resumed from step ${resumedFrom}`);
    }
    sameAsReference(fault, reference, await logged(`${out}.a.jsonl`, `${out}.b.jsonl`));
    // The resumed run left exactly its last checkpoint, verified, and no temporary entry.
    const left = [...Deno.readDirSync(out)].map((e) => e.name).sort().join();
    if (left !== ".lock,latest,step-000004") throw new Error(`${fault}: left ${left}`);
    await verifyFolder(`${out}/step-000004`);
    outcomes.push(`${fault}: resumed from step ${resumedFrom}`);
  }
  if (outcomes.length !== SAVE_POINTS.length + 1) throw new Error(outcomes.join("\n"));
  await Deno.remove(dir, { recursive: true });
});

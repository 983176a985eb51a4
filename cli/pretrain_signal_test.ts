import { GPU_TEST } from "../core/testing.ts";
import { verifyFolder } from "../core/train/manifest.ts";
import {
  CRASH_RUN,
  inProcess,
  logged,
  QUIET,
  ROOT,
  sameAsReference,
  spawnPretrain,
} from "./pretrain_testing.ts";

const RUN = [...CRASH_RUN, "--steps", "6"];

function lastRecord(text: string): Record<string, unknown> {
  return JSON.parse(text.trim().split("\n").at(-1)!);
}

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.test({
    name: `signals: ${signal} stops after the step in flight, saves, summarises, exits ${code}`,
    ...GPU_TEST,
  }, async () => {
    const dir = await Deno.makeTempDir();
    await inProcess([...RUN, "--json", `${dir}/full.jsonl`]);
    // The child pauses once step 3 is reported (step 4 is already submitted), receives the
    // signal there, acknowledges it, and is resumed: the run stops after step 4, every time.
    const child = spawnPretrain(
      [...RUN, ...QUIET, "--out", `${dir}/run`, "--json", `${dir}/a.jsonl`],
      { TEMPO_FAULT: "step:3:pause" },
    );
    await child.paused("step:3");
    child.process.kill(signal);
    await child.waitFor(
      new RegExp(
        `${signal} received: stopping after the step in flight, ` +
          `then saving a checkpoint to ${dir}/run`,
      ),
    );
    await child.resume();
    const { status, stdout, stderr } = await child.done();
    if (status.code !== code) throw new Error(`exit ${status.code}: ${stdout}${stderr}`);
    if (
      !new RegExp(`stopped +by ${signal} after step 4 of 6; checkpoint ${dir}/run/step-000004`)
        .test(stdout)
    ) throw new Error(`summary: ${stdout}`);
    const summary = lastRecord(await Deno.readTextFile(`${dir}/a.jsonl`));
    if (
      summary.summary !== true || summary.interrupted !== true || summary.signal !== signal ||
      summary.steps !== 4 || summary.checkpoint !== `${dir}/run/step-000004`
    ) throw new Error(`summary record ${JSON.stringify(summary)}`);
    await verifyFolder(`${dir}/run/step-000004`);
    // Nothing lost: resumed, every logged number is the uninterrupted run's.
    await inProcess(["--resume", `${dir}/run`, "--json", `${dir}/b.jsonl`]);
    sameAsReference(
      signal,
      await logged(`${dir}/full.jsonl`),
      await logged(`${dir}/a.jsonl`, `${dir}/b.jsonl`),
    );
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test({
  name: "signals: a second SIGINT during the save exits at once; the earlier checkpoint is intact",
  ...GPU_TEST,
}, async () => {
  const dir = await Deno.makeTempDir();
  await inProcess([...RUN, "--json", `${dir}/full.jsonl`]);
  await inProcess([...RUN, "--out", `${dir}/run`, "--stop-after", "1", "--json", `${dir}/0.jsonl`]);
  const child = spawnPretrain(
    [...QUIET, "--resume", `${dir}/run`, "--json", `${dir}/a.jsonl`],
    { TEMPO_FAULT: "step:3:pause,save:model:pause" },
  );
  await child.paused("step:3");
  child.process.kill("SIGINT");
  await child.waitFor(/SIGINT received/);
  await child.resume();
  await child.paused("save:model (checkpoint of step 4)");
  child.process.kill("SIGINT");
  const { status, stdout, stderr } = await child.done();
  if (status.code !== 130) throw new Error(`exit ${status.code}: ${stdout}${stderr}`);
  if (!/second SIGINT: exiting at once/.test(stderr) || /summary/.test(stdout)) {
    throw new Error(`output: ${stdout}${stderr}`);
  }
  const left = [...Deno.readDirSync(`${dir}/run`)].map((e) => e.name).sort();
  if (!/^\.lock,\.tmp-step-000004-\d+,latest,step-000001$/.test(left.join())) {
    throw new Error(`left ${left}`);
  }
  // The abandoned save is cleaned up and the run continues from step 1, exactly.
  await inProcess(["--resume", `${dir}/run`, "--json", `${dir}/b.jsonl`]);
  const after = [...Deno.readDirSync(`${dir}/run`)].map((e) => e.name).sort().join();
  if (after !== ".lock,latest,step-000001,step-000006") throw new Error(`after: ${after}`);
  sameAsReference(
    "second SIGINT",
    await logged(`${dir}/full.jsonl`),
    await logged(`${dir}/0.jsonl`, `${dir}/a.jsonl`, `${dir}/b.jsonl`),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "signals: the listeners are removed when an in-process run ends",
  ...GPU_TEST,
}, async () => {
  // A listener left behind would swallow SIGINT for the rest of the process; a child checks it.
  const code = `
    import { pretrain, parsePretrainArgs } from "${new URL("./pretrain.ts", import.meta.url)}";
    await pretrain(parsePretrainArgs(${JSON.stringify([...CRASH_RUN, ...QUIET, "--steps", "1"])}),
      { signals: true, silent: true });
    console.log("ran");
    Deno.kill(Deno.pid, "SIGINT");
    await new Promise((r) => setTimeout(r, 60_000));
    console.log("still alive");
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 130 || text.trim() !== "ran") {
    throw new Error(`exit ${out.code}: ${text}${new TextDecoder().decode(out.stderr)}`);
  }
});

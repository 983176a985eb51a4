import { TempoError } from "../core/errors.ts";
import { GPU_TEST, testGpu } from "../core/testing.ts";
import { FaultPlan } from "../core/train/fault.ts";
import { verifyFolder } from "../core/train/manifest.ts";
import { parsePretrainArgs, pretrain } from "./pretrain.ts";
import { CRASH_RUN, inProcess, logged, QUIET, sameAsReference } from "./pretrain_testing.ts";

const RUN = [...CRASH_RUN, "--steps", "4"];

/** The TempoError a run ends with; its first line must name `pattern`. */
async function refusal(args: string[], pattern: RegExp, faults?: FaultPlan): Promise<TempoError> {
  let err: unknown;
  try {
    await pretrain(parsePretrainArgs([...QUIET, ...args]), {
      gpu: await testGpu(),
      silent: true,
      faults,
    });
  } catch (e) {
    err = e;
  }
  if (!(err instanceof TempoError) || !pattern.test(err.message)) {
    throw new Error(`${args.join(" ")}: expected ${pattern}, got: ${err}`);
  }
  if (/\n\s+at /.test(err.message)) throw new Error(`a stack in the message: ${err.message}`);
  return err;
}

/** Whether a JSONL file holds any step record (training started). */
async function trained(path: string): Promise<boolean> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").some((l) => l.includes('"loss"'));
}

/** Mount a tmpfs at `dir` when this process may (root with CAP_SYS_ADMIN); false otherwise. */
async function mountTmpfs(dir: string, options: string): Promise<boolean> {
  try {
    const r = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", options, "tmpfs", dir],
      stdout: "null",
      stderr: "null",
    }).output();
    return r.success;
  } catch {
    return false;
  }
}

async function unmount(dir: string): Promise<void> {
  await new Deno.Command("umount", { args: [dir], stdout: "null", stderr: "null" }).output();
}

Deno.test({
  name: "file-system errors: an unwritable --out or --json fails before training, in one line",
  ...GPU_TEST,
}, async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/a-file`;
  await Deno.writeTextFile(file, "x");
  const json = ["--json", `${dir}/run.jsonl`];
  // Paths that fail for root too: under a file, and a new folder in /proc.
  await refusal(
    [...RUN, ...json, "--out", `${file}/ckpt`],
    /^cannot create the --out folder .*a-file\/ckpt: a part of the path is a file, not a folder \(ENOTDIR\)/,
  );
  await refusal(
    [...RUN, ...json, "--out", "/proc/tempo-test/ckpt"],
    // ENOENT with -A; without it, Deno's permissions refuse /proc before the kernel does.
    /^cannot create the --out folder \/proc\/tempo-test\/ckpt: (no such file or folder \(ENOENT\)|Deno's permissions refuse it \(Requires all access)/,
  );
  await refusal(
    [...RUN, "--json", `${file}/run.jsonl`],
    /^cannot open the --json file .*a-file\/run\.jsonl: a part of the path is a file/,
  );
  if (await trained(`${dir}/run.jsonl`)) throw new Error("trained before failing");
  // A read-only folder stops writes unless the test runs as root (as CI does).
  await Deno.mkdir(`${dir}/ro`, { mode: 0o500 });
  const chmodStopsWrites = await Deno.writeTextFile(`${dir}/ro/probe`, "x").then(
    () => false,
    () => true,
  );
  if (chmodStopsWrites) {
    await refusal(
      [...RUN, ...json, "--out", `${dir}/ro/ckpt`],
      /^cannot create the --out folder .*: permission denied \(EACCES\)/,
    );
    await refusal([...RUN, "--json", `${dir}/ro/run.jsonl`], /permission denied \(EACCES\)/);
  }
  await Deno.mkdir(`${dir}/rofs`);
  if (await mountTmpfs(`${dir}/rofs`, "ro,size=64k")) {
    try {
      await refusal(
        [...RUN, ...json, "--out", `${dir}/rofs/ckpt`],
        /^cannot create the --out folder .*rofs\/ckpt: the file system is read-only \(EROFS\)/,
      );
      await refusal([...RUN, "--json", `${dir}/rofs/run.jsonl`], /read-only \(EROFS\)/);
    } finally {
      await unmount(`${dir}/rofs`);
    }
  } else {
    console.log("  (read-only tmpfs case skipped: mount -t tmpfs is not permitted here)");
  }
  if (await trained(`${dir}/run.jsonl`)) throw new Error("trained before failing");
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "file-system errors: damaged checkpoints are refused by file name; the hint recovers",
  ...GPU_TEST,
}, async () => {
  const dir = await Deno.makeTempDir();
  await inProcess([...RUN, "--json", `${dir}/full.jsonl`]);
  const saving = ["--save-every", "1", "--keep-last", "2"];
  await inProcess([
    ...RUN,
    ...saving,
    "--out",
    `${dir}/run`,
    "--stop-after",
    "2",
    "--json",
    `${dir}/a.jsonl`,
  ]);
  const newest = `${dir}/run/step-000002`;
  const damage: [string, (p: string) => Promise<void>, RegExp][] = [
    ["model.safetensors", (p) => Deno.remove(p), /model\.safetensors is missing/],
    ["optimizer.safetensors", (p) => Deno.remove(p), /optimizer\.safetensors is missing/],
    [
      "model.safetensors",
      async (p) => {
        const b = await Deno.readFile(p);
        b[b.length - 5] ^= 0x10; // a weight's bit: only the checksum can tell
        await Deno.writeFile(p, b);
      },
      /model\.safetensors does not match its SHA-256 in the manifest/,
    ],
    [
      "optimizer.safetensors",
      async (p) => await Deno.truncate(p, 1000),
      /optimizer\.safetensors has 1000 bytes, the manifest says \d+ \(truncated/,
    ],
  ];
  for (const [file, harm, pattern] of damage) {
    const path = `${newest}/${file}`;
    const original = await Deno.readFile(path);
    await harm(path);
    const err = await refusal([...saving, "--resume", `${dir}/run`], pattern);
    if (!err.hint.includes(`${dir}/run/step-000001 verifies`)) throw new Error(err.hint);
    await Deno.remove(path).catch(() => {});
    await Deno.writeFile(path, original);
  }
  // Following the hint: the damaged folder moved aside, the run continues from step 1, exactly.
  await Deno.rename(newest, `${dir}/run/damaged-step-000002`);
  await inProcess([...saving, "--resume", `${dir}/run`, "--json", `${dir}/b.jsonl`]);
  sameAsReference(
    "after moving the damaged checkpoint aside",
    await logged(`${dir}/full.jsonl`),
    await logged(`${dir}/a.jsonl`, `${dir}/b.jsonl`),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name:
    "file-system errors: a disk full during a save stops the run; the previous checkpoint resumes",
  ...GPU_TEST,
}, async () => {
  const dir = await Deno.makeTempDir();
  await inProcess([...RUN, "--json", `${dir}/full.jsonl`]);
  const saving = ["--save-every", "1", "--keep-last", "2"];
  // Injected: ENOSPC while optimizer.safetensors of step 2 is half written.
  const err = await refusal(
    [...RUN, ...saving, "--out", `${dir}/run`, "--json", `${dir}/a.jsonl`],
    /^cannot save the checkpoint of step 2 \(.*\/optimizer\.safetensors\): no space left on the device \(ENOSPC\); the newest checkpoint, .*\/run\/step-000001, is intact/,
    FaultPlan.parse("save:optimizer-half:enospc:2"),
  );
  if (!err.hint.includes(`--resume ${dir}/run`)) throw new Error(err.hint);
  const left = [...Deno.readDirSync(`${dir}/run`)].map((e) => e.name).sort().join();
  if (left !== ".lock,latest,step-000001") throw new Error(`left ${left}`);
  await inProcess([...saving, "--resume", `${dir}/run`, "--json", `${dir}/b.jsonl`]);
  sameAsReference(
    "after ENOSPC",
    await logged(`${dir}/full.jsonl`),
    await logged(`${dir}/a.jsonl`, `${dir}/b.jsonl`),
  );
  // A real full disk: a tmpfs that holds one checkpoint of this model but not two.
  await Deno.mkdir(`${dir}/small`);
  if (await mountTmpfs(`${dir}/small`, "size=400k")) {
    try {
      await refusal(
        [...RUN, ...saving, "--out", `${dir}/small/run`],
        /^cannot save the checkpoint of step 2 .*: no space left on the device \(ENOSPC\); the newest checkpoint, .*step-000001, is intact/,
      );
      await verifyFolder(`${dir}/small/run/step-000001`);
      const names = [...Deno.readDirSync(`${dir}/small/run`)].map((e) => e.name).sort().join();
      if (names !== ".lock,latest,step-000001") throw new Error(`left ${names}`);
    } finally {
      await unmount(`${dir}/small`);
    }
  } else {
    console.log("  (real tmpfs case skipped: mount -t tmpfs is not permitted here)");
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "resume: a changed flag, a finished run and a fresh run into a used folder are refused",
  ...GPU_TEST,
}, async () => {
  const dir = await Deno.makeTempDir();
  await inProcess([...RUN, "--out", `${dir}/run`, "--stop-after", "2"]);
  await refusal(
    ["--resume", `${dir}/run`, "--lr", "3e-3", "--seed", "4"],
    /flags differ from the checkpoint's run:\n {2}--lr 0\.003 differs from the checkpoint's 0\.002\n {2}--seed 4 differs from the checkpoint's 3/,
  );
  await refusal(
    ["--resume", `${dir}/run`, "--steps", "2", "--allow-changes", "steps"],
    /--steps 2 is not beyond the checkpoint's step 2/,
  );
  await refusal([...RUN, "--out", `${dir}/run`], /--out .*run already holds checkpoints/);
  await inProcess(["--resume", `${dir}/run`]);
  await refusal(["--resume", `${dir}/run`], /the run is complete \(step 4 of --steps 4\)/);
  await Deno.remove(dir, { recursive: true });
});

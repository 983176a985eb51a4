import { TempoError } from "../errors.ts";
import {
  type CheckpointState,
  checkRunFolder,
  commitCheckpoint,
  findCheckpoint,
} from "./checkpoint.ts";
import { FaultPlan, SAVE_POINTS } from "./fault.ts";
import { readManifest, verifyFolder } from "./manifest.ts";
import { listRunFolder, RunFolder } from "./run_folder.ts";

/** Files of a fake checkpoint of `step` (bytes that differ per step). */
function files(step: number) {
  const bytes = (n: number, salt: number) => Uint8Array.from({ length: n }, (_, i) => i * salt);
  const state: CheckpointState = {
    step,
    data: { cursor: step },
    val: { cursor: 2 * step },
    run: { settings: { lr: 0.002 } },
  };
  return { model: bytes(1000 + step, step + 1), optimizer: bytes(2000, step + 7), state };
}

async function expectThrows(f: () => Promise<unknown>, pattern: RegExp): Promise<TempoError> {
  let err: unknown;
  try {
    await f();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof TempoError) || !pattern.test(err.message)) {
    throw new Error(`expected a TempoError matching ${pattern}, got: ${err}`);
  }
  if (err.message.split("\n")[0].length === 0) throw new Error("empty first line");
  return err;
}

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("checkpoint: commit writes a verified step folder, latest, and keeps the last K", async () => {
  const dir = await Deno.makeTempDir();
  for (const step of [1, 2, 3, 4]) await commitCheckpoint(dir, files(step), { keepLast: 2 });
  const entries = names(dir);
  if (entries.join() !== "latest,step-000003,step-000004") throw new Error(entries.join());
  if (await Deno.readTextFile(`${dir}/latest`) !== "step-000004\n") throw new Error("latest");
  const m = await verifyFolder(`${dir}/step-000004`);
  if (
    m.step !== 4 || m.files.map((f) => f.name).join() !== "model.safetensors," +
        "optimizer.safetensors,state.json"
  ) throw new Error(JSON.stringify(m));
  const ref = await findCheckpoint(dir);
  if (ref.step !== 4 || ref.state.val?.cursor !== 8 || ref.newer.length !== 0) {
    throw new Error(JSON.stringify(ref));
  }
  const older = await findCheckpoint(`${dir}/step-000003`);
  if (older.step !== 3 || older.newer.join() !== "4") throw new Error(JSON.stringify(older.newer));
  // Resuming the older one into the same folder would mix histories; a new folder is fine.
  await expectThrows(() => checkRunFolder(dir, older), /newer checkpoints .*step-000004/);
  await checkRunFolder(dir, ref);
  await expectThrows(() => checkRunFolder(dir, null), /already holds checkpoints/);
  await checkRunFolder(`${dir}-elsewhere`, older);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checkpoint: damaged files are refused by name; an older good one is named", async () => {
  const dir = await Deno.makeTempDir();
  await commitCheckpoint(dir, files(1), { keepLast: 0 });
  await commitCheckpoint(dir, files(2), { keepLast: 0 });
  const newest = `${dir}/step-000002`;
  const model = `${newest}/model.safetensors`, original = await Deno.readFile(model);
  // Bit flip: same size, other checksum. findCheckpoint checks sizes; the full check is on load.
  const flipped = original.slice();
  flipped[17] ^= 4;
  await Deno.writeFile(model, flipped);
  await expectThrows(
    () => verifyFolder(newest),
    /model\.safetensors does not match its SHA-256/,
  );
  // Truncated.
  await Deno.writeFile(model, original.subarray(0, 100));
  let err = await expectThrows(
    () => findCheckpoint(dir),
    /model\.safetensors has 100 bytes.*truncated/,
  );
  if (!/step-000001 verifies/.test(err.hint)) throw new Error(`hint: ${err.hint}`);
  // Missing.
  await Deno.remove(model);
  err = await expectThrows(() => findCheckpoint(dir), /model\.safetensors is missing/);
  // state.json changed (checked at find time: it holds the settings).
  await Deno.writeFile(model, original);
  const statePath = `${newest}/state.json`;
  const state = await Deno.readTextFile(statePath);
  await Deno.writeTextFile(statePath, state.replace('"cursor": 2', '"cursor": 3'));
  await expectThrows(() => findCheckpoint(dir), /state\.json does not match its SHA-256/);
  await Deno.writeTextFile(statePath, state);
  // Manifest missing or not JSON.
  const manifest = await Deno.readTextFile(`${newest}/manifest.json`);
  await Deno.writeTextFile(`${newest}/manifest.json`, manifest.slice(0, 40));
  await expectThrows(() => findCheckpoint(dir), /manifest\.json is not JSON/);
  await Deno.remove(`${newest}/manifest.json`);
  await expectThrows(() => findCheckpoint(dir), /manifest\.json is missing/);
  await Deno.writeTextFile(
    `${newest}/manifest.json`,
    manifest.replace('"version": 1', '"version": 9'),
  );
  await expectThrows(() => findCheckpoint(dir), /layout version 9/);
  await Deno.writeTextFile(`${newest}/manifest.json`, manifest);
  if ((await findCheckpoint(dir)).step !== 2) throw new Error("repaired folder refused");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checkpoint: clear refusals for empty, temporary-only and old-layout folders", async () => {
  const dir = await Deno.makeTempDir();
  await expectThrows(() => findCheckpoint(`${dir}/missing`), /--resume folder .*no such file/);
  await Deno.writeTextFile(`${dir}/file`, "x");
  await expectThrows(() => findCheckpoint(`${dir}/file`), /is a file, not a checkpoint folder/);
  await Deno.mkdir(`${dir}/run/.tmp-step-000001-999`, { recursive: true });
  await expectThrows(() => findCheckpoint(`${dir}/run`), /no committed checkpoint.*\.tmp-step/);
  await expectThrows(
    () => findCheckpoint(`${dir}/run/.tmp-step-000001-999`),
    /temporary folder of an interrupted save/,
  );
  await Deno.mkdir(`${dir}/old`);
  for (const f of ["model.safetensors", "optimizer.safetensors", "state.json"]) {
    await Deno.writeTextFile(`${dir}/old/${f}`, "{}");
  }
  await expectThrows(() => findCheckpoint(`${dir}/old`), /first layout/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("checkpoint: an ENOSPC at any point of a save keeps the previous checkpoint", async () => {
  for (const point of SAVE_POINTS) {
    const dir = await Deno.makeTempDir();
    await commitCheckpoint(dir, files(1), { keepLast: 1 });
    const faults = FaultPlan.parse(`save:${point}:enospc:2`);
    const err = await expectThrows(
      () => commitCheckpoint(dir, files(2), { keepLast: 1, faults }),
      /cannot save the checkpoint of step 2 .*no space left on the device \(ENOSPC\)/,
    );
    const committed = ["rename", "latest", "prune"].includes(point);
    const intact = committed ? "step-000002" : "step-000001";
    if (!err.message.includes(`${intact}, is intact`)) throw new Error(`${point}: ${err.message}`);
    const ref = await findCheckpoint(dir);
    if (ref.step !== (committed ? 2 : 1)) throw new Error(`${point}: resumes at ${ref.step}`);
    await verifyFolder(ref.dir);
    // The failed save removed its temporary folder (a prune interrupted after its rename leaves a
    // temporary entry, which the next opening of the folder removes).
    const left = (await listRunFolder(dir)).temps;
    if (point !== "prune" && left.length > 0) throw new Error(`${point}: left ${left}`);
    const folder = await RunFolder.open(dir);
    folder.close();
    if ((await listRunFolder(dir)).temps.length > 0) throw new Error(`${point}: not cleaned`);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run folder: probe, lock against a second writer, stale temporary entries removed", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/.tmp-step-000005-424242/x`, { recursive: true });
  await Deno.writeTextFile(`${dir}/model.safetensors.tmp-4242`, "partial");
  const a = await RunFolder.open(dir);
  if (a.removed.join() !== ".tmp-step-000005-424242,model.safetensors.tmp-4242") {
    throw new Error(`removed ${a.removed}`);
  }
  if (names(dir).join() !== ".lock") throw new Error(names(dir).join());
  await expectThrows(() => RunFolder.open(dir), /in use: another tempo process/);
  a.close();
  (await RunFolder.open(dir)).close();
  // A path under a file cannot be a folder, whoever runs the test (root included).
  await expectThrows(() => RunFolder.open(`${dir}/.lock/sub`), /cannot create the --out folder/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("manifest: lists every file with its size and SHA-256", async () => {
  const dir = await Deno.makeTempDir();
  const f = files(3);
  await commitCheckpoint(dir, f, { keepLast: 0 });
  const m = await readManifest(`${dir}/step-000003`);
  const model = m.files.find((e) => e.name === "model.safetensors")!;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", f.model));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  if (model.bytes !== f.model.length || model.sha256 !== hex) {
    throw new Error(JSON.stringify(model));
  }
  await Deno.remove(dir, { recursive: true });
});

/**
 * Checkpoints, committed as one unit. A save writes `model.safetensors` (weights),
 * `optimizer.safetensors` (AdamW moments), `state.json` (step, data and validation positions, the
 * run's settings) and, last, `manifest.json` (each file's size and SHA-256) into a temporary
 * folder `.tmp-step-000123-<pid>/`, syncing each file; one rename commits it as `step-000123/`.
 * Then `latest` is updated and checkpoints beyond the last `keepLast` are removed. A process killed
 * at any point leaves either the previous checkpoints or the new one complete, never a mix.
 *
 * Resuming takes a run folder (its newest step folder) or one step folder, and verifies it
 * against its manifest; a damaged newest checkpoint is refused by name, never skipped silently.
 * @module
 */
import type { ScalerState } from "./loss_scaler.ts";
import type { Encoder } from "../encoder.ts";
import { TempoError } from "../errors.ts";
import { fsCause, fsErrorCode, withFsError } from "../fs_error.ts";
import type { Tensor } from "../tensor.ts";
import { FaultPlan, type SavePoint } from "./fault.ts";
import {
  checkSizes,
  MANIFEST,
  type Manifest,
  manifestEntry,
  manifestText,
  readManifest,
  readVerified,
  verifyFolder,
} from "./manifest.ts";
import type { TrainParam } from "./model.ts";
import {
  baseOf,
  joinPath,
  LATEST,
  listRunFolder,
  parentOf,
  parseStepFolder,
  stepFolderName,
  syncFolder,
  TMP_PREFIX,
  writeAtomic,
  writeFileSynced,
} from "./run_folder.ts";
import { decodeSafetensors, encodeSafetensors, type HostTensor } from "./safetensors.ts";

/** The files of a step folder besides the manifest. */
export const CHECKPOINT_FILES = {
  model: "model.safetensors",
  optimizer: "optimizer.safetensors",
  state: "state.json",
} as const;

/** The JSON part of a checkpoint (`state.json`). */
export interface CheckpointState {
  /** Optimizer steps done. */
  step: number;
  /** Position of the training source. */
  data: Record<string, unknown>;
  /** Position of the validation source (evaluations consume it), or null without one. */
  val: Record<string, unknown> | null;
  /** The run's settings and anything else the caller restores (config, flags, seed). */
  run: Record<string, unknown>;
  /** The loss scaler's state for the next step (loss-scaled f16 runs only). */
  scaler?: ScalerState;
}

/** Optimizer moments of one parameter. */
export interface MomentPair {
  /** First moment. */
  m: Tensor;
  /** Second moment. */
  v: Tensor;
}

/** Settings of a save. */
export interface SaveOptions {
  /** Keep this many newest checkpoints, removing older ones after the commit; 0 keeps all. */
  keepLast: number;
  /** Injected faults (tests). */
  faults?: FaultPlan;
}

/**
 * Bytes of readbacks kept in flight while saving: each readback waits for a poll of the device
 * (about 11 ms on the software adapter) whatever its size, so reading tensors one by one costs a
 * poll each; the bound keeps the staging buffers this needs small.
 */
const READ_AHEAD_BYTES = 32 * 2 ** 20;

async function readAll(enc: Encoder, ts: { name: string; t: Tensor }[]) {
  const out: Record<string, HostTensor> = {};
  const inFlight: { bytes: number; done: Promise<void> }[] = [];
  let bytes = 0;
  for (const { name, t } of ts) {
    while (inFlight.length > 0 && bytes + t.bytes > READ_AHEAD_BYTES) {
      const first = inFlight.shift()!;
      await first.done;
      bytes -= first.bytes;
    }
    const done = enc.read(t).then((b) => {
      out[name] = { shape: [...t.shape], data: new Float32Array(b) };
    });
    done.catch(() => {}); // a failure is thrown by the await below, not as unhandled
    inFlight.push({ bytes: t.bytes, done });
    bytes += t.bytes;
  }
  await Promise.all(inFlight.map((r) => r.done));
  // The order of the names is the order of the file: the one given, not the order reads finished.
  return Object.fromEntries(ts.map(({ name }) => [name, out[name]]));
}

/** Read weights and moments off the GPU as the bytes of the two safetensors files. */
export async function encodeTrainingTensors(
  enc: Encoder,
  params: readonly TrainParam[],
  moments: readonly MomentPair[],
): Promise<{ model: Uint8Array; optimizer: Uint8Array }> {
  const weights = await readAll(enc, params.map((p) => ({ name: p.name, t: p.value })));
  const opt = await readAll(enc, [
    ...params.map((p, i) => ({ name: `${p.name}.m`, t: moments[i].m })),
    ...params.map((p, i) => ({ name: `${p.name}.v`, t: moments[i].v })),
  ]);
  return {
    model: encodeSafetensors(weights, { format: "pt" }),
    optimizer: encodeSafetensors(opt),
  };
}

async function newestCommitted(runDir: string): Promise<string | null> {
  try {
    const { steps } = await listRunFolder(runDir);
    return steps.length ? steps[steps.length - 1].path : null;
  } catch {
    return null;
  }
}

/**
 * Commit a checkpoint of `step` into `runDir` (see the module doc); returns the step folder. A
 * failure removes the temporary folder and throws one TempoError that names the file, the cause
 * and the newest checkpoint that remains intact.
 */
export async function commitCheckpoint(
  runDir: string,
  files: { model: Uint8Array; optimizer: Uint8Array; state: CheckpointState },
  options: SaveOptions,
): Promise<string> {
  const faults = options.faults ?? FaultPlan.none;
  const step = files.state.step;
  const name = stepFolderName(step);
  const final = joinPath(runDir, name);
  const tmp = joinPath(runDir, `${TMP_PREFIX}${name}-${Deno.pid}`);
  let at = tmp;
  try {
    await Deno.mkdir(runDir, { recursive: true });
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await Deno.mkdir(tmp);
    await faults.save("mkdir", step);
    const contents: [string, Uint8Array, "model" | "optimizer" | null][] = [
      [CHECKPOINT_FILES.model, files.model, "model"],
      [CHECKPOINT_FILES.optimizer, files.optimizer, "optimizer"],
      [
        CHECKPOINT_FILES.state,
        new TextEncoder().encode(JSON.stringify(files.state, null, 2) + "\n"),
        null,
      ],
    ];
    const entries = [];
    for (const [file, bytes, half] of contents) {
      at = joinPath(tmp, file);
      entries.push(await manifestEntry(file, bytes));
      await writeFileSynced(
        at,
        bytes,
        half ? () => faults.save(`${half}-half` as SavePoint, step) : undefined,
      );
      await faults.save(half ?? "state", step);
    }
    at = joinPath(tmp, MANIFEST);
    await writeFileSynced(at, new TextEncoder().encode(manifestText(step, entries)));
    await faults.save("manifest", step);
    at = tmp;
    await syncFolder(tmp);
    at = final;
    await Deno.rename(tmp, final);
    await syncFolder(runDir);
    await faults.save("rename", step);
    at = joinPath(runDir, LATEST);
    await writeAtomic(at, `${name}\n`);
    await faults.save("latest", step);
    if (options.keepLast > 0) {
      const { steps } = await listRunFolder(runDir);
      for (const old of steps.slice(0, Math.max(0, steps.length - options.keepLast))) {
        if (old.step >= step) continue;
        at = old.path;
        const doomed = joinPath(runDir, `${TMP_PREFIX}delete-${baseOf(old.path)}-${Deno.pid}`);
        await Deno.rename(old.path, doomed);
        await faults.save("prune", step);
        await Deno.remove(doomed, { recursive: true });
      }
    }
  } catch (e) {
    if (e instanceof TempoError) throw e;
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    const intact = await newestCommitted(runDir);
    const code = fsErrorCode(e);
    const cause = code === "ENOTEMPTY" || code === "EEXIST"
      ? `${final} already exists`
      : fsCause(e);
    throw new TempoError(
      `cannot save the checkpoint of step ${step} (${at}): ${cause}; ` +
        (intact ? `the newest checkpoint, ${intact}, is intact` : "no checkpoint is saved"),
      intact ? `fix the folder, then continue with --resume ${runDir}` : "fix the folder",
      e,
    );
  }
  return final;
}

/** Read the tensors off the GPU and commit a checkpoint; returns the step folder. */
export async function saveCheckpoint(
  runDir: string,
  enc: Encoder,
  params: readonly TrainParam[],
  moments: readonly MomentPair[],
  state: CheckpointState,
  options: SaveOptions,
): Promise<string> {
  const tensors = await encodeTrainingTensors(enc, params, moments);
  return await commitCheckpoint(runDir, { ...tensors, state }, options);
}

/** A verified checkpoint to resume from (its tensors are checked when loaded). */
export interface CheckpointRef {
  /** The step folder. */
  dir: string;
  /** The run folder holding it. */
  runDir: string;
  /** Its step. */
  step: number;
  /** Its manifest. */
  manifest: Manifest;
  /** Its state.json. */
  state: CheckpointState;
  /** Steps of committed checkpoints in the run folder newer than this one. */
  newer: number[];
}

/**
 * Where an older checkpoint of `runDir` verifies completely, a hint naming it; otherwise a hint
 * that none does.
 */
async function olderGoodHint(runDir: string, bad: string, step: number): Promise<string> {
  const { steps } = await listRunFolder(runDir).catch(() => ({ steps: [] }));
  for (const s of steps.filter((s) => s.step < step).reverse()) {
    try {
      await verifyFolder(s.path);
    } catch {
      continue;
    }
    return `the older ${s.path} verifies: move the damaged folder aside ` +
      `(mv ${bad} ${joinPath(runDir, `damaged-${baseOf(bad)}`)}) and resume again to continue ` +
      "from it; tempo does not skip a damaged checkpoint on its own";
  }
  return "no older checkpoint in that folder verifies; start the run again";
}

/**
 * Find the checkpoint to resume from: `path` is a step folder, or a run folder whose newest step
 * folder is taken. Checks the manifest, every file's size and state.json's checksum; a TempoError
 * names any damage (and an older checkpoint that verifies). `flag` names where the path came
 * from in messages (`--resume`, or `--checkpoint` for the commands that use a trained model).
 */
export async function findCheckpoint(path: string, flag = "--resume"): Promise<CheckpointRef> {
  const info = await withFsError(
    `open the ${flag} folder`,
    path,
    () => Deno.stat(path),
    "pass the --out folder of a run that saved checkpoints, or one of its step folders",
  );
  if (!info.isDirectory) {
    throw new TempoError(
      `${flag} ${path} is a file, not a checkpoint folder`,
      "pass the --out folder of a run, or one of its step-NNNNNN folders",
    );
  }
  const name = baseOf(path);
  if (name.startsWith(TMP_PREFIX)) {
    throw new TempoError(
      `${flag} ${path} is the temporary folder of an interrupted save, not a checkpoint`,
      `resume from the run folder, ${parentOf(path)}`,
    );
  }
  let dir: string, runDir: string;
  const isStep = parseStepFolder(name) !== null ||
    await Deno.stat(joinPath(path, MANIFEST)).then(() => true, () => false);
  if (isStep) {
    dir = path;
    runDir = parentOf(path);
  } else {
    runDir = path;
    const list = await withFsError("list the checkpoint folder", path, () => listRunFolder(path));
    if (list.steps.length === 0) {
      if (list.legacy) {
        throw new TempoError(
          `${flag} ${path} holds a checkpoint of tempo's first layout (model.safetensors, ` +
            "optimizer.safetensors and state.json side by side, no manifest), which carries " +
            "neither checksums nor the run's settings and cannot be resumed safely",
          "start the run again; checkpoints are now committed step folders (see README)",
        );
      }
      throw new TempoError(
        `${flag} ${path}: no committed checkpoint there` +
          (list.temps.length
            ? ` (only ${list.temps.join(", ")}, left by an interrupted save)`
            : ""),
        "pass the --out folder of a run that saved a checkpoint (--save-every, or at its end)",
      );
    }
    dir = list.steps[list.steps.length - 1].path;
  }
  const { steps } = await listRunFolder(runDir).catch(() => ({ steps: [] }));
  const step0 = parseStepFolder(baseOf(dir));
  try {
    const manifest = await readManifest(dir);
    await checkSizes(dir, manifest);
    const stateBytes = await readVerified(dir, manifest, CHECKPOINT_FILES.state);
    for (const f of [CHECKPOINT_FILES.model, CHECKPOINT_FILES.optimizer]) {
      if (!manifest.files.some((e) => e.name === f)) {
        throw new TempoError(`checkpoint ${joinPath(dir, MANIFEST)} does not list ${f}`);
      }
    }
    let state: CheckpointState;
    try {
      state = JSON.parse(new TextDecoder().decode(stateBytes));
    } catch (e) {
      throw new TempoError(
        `checkpoint file ${joinPath(dir, CHECKPOINT_FILES.state)} is not JSON (${
          (e as Error).message
        })`,
      );
    }
    if (state.step !== manifest.step || (step0 !== null && step0 !== state.step)) {
      throw new TempoError(
        `checkpoint ${dir}: state.json says step ${state.step}, the manifest ${manifest.step}`,
      );
    }
    return {
      dir,
      runDir,
      step: state.step,
      manifest,
      state,
      newer: steps.filter((s) => s.step > state.step).map((s) => s.step),
    };
  } catch (e) {
    throw await withOlderHint(e, dir, runDir, flag);
  }
}

async function withOlderHint(
  e: unknown,
  dir: string,
  runDir: string,
  flag = "--resume",
): Promise<unknown> {
  if (!(e instanceof TempoError) || e.hint) return e;
  const step = parseStepFolder(baseOf(dir)) ?? Infinity;
  return new TempoError(
    `${flag}: ${e.message}`,
    await olderGoodHint(runDir, dir, step),
    e.cause,
  );
}

/** Load a found checkpoint's weights and moments (each file verified first) into the tensors. */
export async function loadCheckpointTensors(
  ref: CheckpointRef,
  enc: Encoder,
  params: readonly TrainParam[],
  moments: readonly MomentPair[],
): Promise<void> {
  const decode = async (file: string) => {
    try {
      const bytes = await readVerified(ref.dir, ref.manifest, file);
      return decodeSafetensors(bytes, joinPath(ref.dir, file)).tensors;
    } catch (e) {
      throw await withOlderHint(e, ref.dir, ref.runDir);
    }
  };
  const put = (t: Tensor, h: HostTensor | undefined, name: string) => {
    if (!h || h.data.length !== t.size) {
      throw new TempoError(
        `checkpoint ${ref.dir} does not match the model: tensor '${name}' is ${
          h ? `[${h.shape}]` : "missing"
        }, the model's is [${t.shape}]`,
        "resume with the same --model and --config as the run that saved it",
      );
    }
    enc.write(t, h.data);
  };
  const w = await decode(CHECKPOINT_FILES.model);
  params.forEach((p) => put(p.value, w[p.name], p.name));
  const o = await decode(CHECKPOINT_FILES.optimizer);
  params.forEach((p, i) => {
    put(moments[i].m, o[`${p.name}.m`], `${p.name}.m`);
    put(moments[i].v, o[`${p.name}.v`], `${p.name}.v`);
  });
}

/**
 * Refuse to write into a run folder where the new checkpoints would mix with another history: a
 * new run into a folder that holds checkpoints, or a run resumed from an older checkpoint of the
 * same folder while newer ones exist there (they would be overwritten by a different future).
 */
export async function checkRunFolder(dir: string, resumed: CheckpointRef | null): Promise<void> {
  const { steps } = await withFsError("list the checkpoint folder", dir, () => listRunFolder(dir));
  const real = (p: string) => Deno.realPath(p).catch(() => p);
  const same = resumed !== null && await real(dir) === await real(resumed.runDir);
  if (same) {
    if (resumed.newer.length === 0) return;
    const newest = joinPath(dir, stepFolderName(Math.max(...resumed.newer)));
    throw new TempoError(
      `--resume ${resumed.dir}: ${dir} holds newer checkpoints (up to ${newest}); continuing ` +
        "from an older one there would mix two runs in one folder",
      `resume from ${dir} itself to continue from the newest, or pass --out NEWDIR to branch ` +
        "from this one into a new folder",
    );
  }
  if (steps.length > 0) {
    throw new TempoError(
      `--out ${dir} already holds checkpoints (newest ${steps[steps.length - 1].path})`,
      resumed
        ? "choose an empty --out to branch into, or resume from that folder"
        : `continue that run with --resume ${dir}, or choose an empty --out`,
    );
  }
}

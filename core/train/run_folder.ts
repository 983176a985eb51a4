/**
 * The run folder of a training run: committed checkpoints as step folders (`step-000123/`),
 * temporary folders of saves in progress (`.tmp-step-000123-<pid>/`), an informational `latest`
 * pointer, and a `.lock` file whose exclusive lock marks the one process writing there. Helpers for
 * durable writes (every file synced, then its folder) live here too.
 * @module
 */
import { TempoError } from "../errors.ts";
import { fsErrorCode, withFsError } from "../fs_error.ts";

/** The informational pointer file: the name of the newest committed step folder and a newline. */
export const LATEST = "latest";
/** Prefix of every temporary name in a run folder; anything starting with it may be removed. */
export const TMP_PREFIX = ".tmp-";
const LOCK = ".lock";
const STEP_RE = /^step-(\d{6,})$/;

/** `step-000123` for step 123 (six digits at least, more when needed). */
export function stepFolderName(step: number): string {
  return `step-${String(step).padStart(6, "0")}`;
}

/** The step of a step folder's name, or null for any other name. */
export function parseStepFolder(name: string): number | null {
  const m = STEP_RE.exec(name);
  return m ? Number(m[1]) : null;
}

/** `a/b/c` -> `a/b`; `c` -> `.` (trailing slashes ignored). */
export function parentOf(path: string): string {
  const p = path.replace(/[/\\]+$/, "");
  const i = Math.max(p.lastIndexOf("/"), p.lastIndexOf("\\"));
  return i < 0 ? "." : i === 0 ? p.slice(0, 1) : p.slice(0, i);
}

/** `a/b/c` -> `c` (trailing slashes ignored). */
export function baseOf(path: string): string {
  const p = path.replace(/[/\\]+$/, "");
  return p.slice(Math.max(p.lastIndexOf("/"), p.lastIndexOf("\\")) + 1);
}

/** `dir/name`. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

/** What a run folder holds. */
export interface RunFolderListing {
  /** Committed step folders, by step ascending. */
  steps: { step: number; path: string }[];
  /** Names of temporary entries (interrupted saves, probes, half-deleted checkpoints). */
  temps: string[];
  /** A checkpoint of tempo's first layout (state.json beside model.safetensors, no manifest). */
  legacy: boolean;
}

/** List a run folder; a missing folder lists as empty. */
export async function listRunFolder(dir: string): Promise<RunFolderListing> {
  const steps: { step: number; path: string }[] = [], temps: string[] = [];
  let legacy = false;
  try {
    for await (const e of Deno.readDir(dir)) {
      const step = e.isDirectory ? parseStepFolder(e.name) : null;
      if (step !== null) steps.push({ step, path: joinPath(dir, e.name) });
      else if (e.name.startsWith(TMP_PREFIX) || /\.tmp-\d+$/.test(e.name)) temps.push(e.name);
      else if (e.name === "state.json") legacy = true;
    }
  } catch (e) {
    if (fsErrorCode(e) === "ENOENT") return { steps, temps, legacy };
    throw e;
  }
  steps.sort((a, b) => a.step - b.step);
  temps.sort();
  return { steps, temps, legacy };
}

/** `mkdir -p path`; a file in the way fails as ENOTDIR (not as EEXIST, which would mislead). */
export async function ensureFolder(path: string): Promise<void> {
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (e) {
    if (fsErrorCode(e) !== "EEXIST") throw e;
  }
  if (!(await Deno.stat(path)).isDirectory) {
    throw Object.assign(new Error(`Not a directory: ${path}`), { code: "ENOTDIR" });
  }
}

/** Write `data` to a new file at `path` and sync it to the device; `half` runs midway. */
export async function writeFileSynced(
  path: string,
  data: Uint8Array,
  half?: () => Promise<void>,
): Promise<void> {
  const file = await Deno.open(path, { write: true, createNew: true });
  try {
    const writeAll = async (bytes: Uint8Array) => {
      for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
    };
    const mid = half ? data.length >> 1 : data.length;
    await writeAll(data.subarray(0, mid));
    if (half) {
      await file.sync();
      await half();
    }
    await writeAll(data.subarray(mid));
    await file.sync();
  } finally {
    file.close();
  }
}

/**
 * Sync a folder's entries (a rename or a new file in it) to the device. Where folders cannot be
 * opened (some platforms), there is nothing to sync and nothing is done.
 */
export async function syncFolder(path: string): Promise<void> {
  let dir: Deno.FsFile;
  try {
    dir = await Deno.open(path, { read: true });
  } catch (e) {
    if (fsErrorCode(e) === "ENOENT") throw e;
    return;
  }
  try {
    await dir.sync();
  } catch (e) {
    if (fsErrorCode(e) !== "EINVAL" && fsErrorCode(e) !== "EBADF") throw e;
  } finally {
    dir.close();
  }
}

/** Replace `path` atomically: a synced temporary file in the same folder, renamed over it. */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = joinPath(parentOf(path), `${TMP_PREFIX}${baseOf(path)}-${Deno.pid}`);
  await Deno.remove(tmp).catch(() => {});
  await writeFileSynced(tmp, typeof data === "string" ? new TextEncoder().encode(data) : data);
  await Deno.rename(tmp, path);
  await syncFolder(parentOf(path));
}

/**
 * The run folder a process writes checkpoints into, created and checked before training: writable
 * (a probe file is written and removed), held by this process alone (an exclusive lock on
 * `.lock`, released when the process ends however it ends), and rid of the temporary entries of
 * earlier processes (which the lock proves dead).
 */
export class RunFolder {
  private constructor(
    /** The folder. */
    readonly dir: string,
    readonly lock: Deno.FsFile | null,
    /** Temporary entries of dead processes that were removed on opening. */
    readonly removed: readonly string[],
  ) {}

  /**
   * Create (if needed), probe, lock and clean `dir`; one clear TempoError for any failure. `flag`
   * names where the folder came from in messages.
   */
  static async open(
    dir: string,
    flag = "--out",
    hint = `choose a writable ${flag} folder`,
  ): Promise<RunFolder> {
    await withFsError(`create the ${flag} folder`, dir, () => ensureFolder(dir), hint);
    const probe = joinPath(dir, `${TMP_PREFIX}probe-${Deno.pid}`);
    await withFsError(`write into the ${flag} folder`, dir, async () => {
      await Deno.remove(probe).catch(() => {});
      await writeFileSynced(probe, new Uint8Array(1));
      await Deno.remove(probe);
    }, hint);
    const lockPath = joinPath(dir, LOCK);
    const lock = await withFsError(
      "open the lock file",
      lockPath,
      () => Deno.open(lockPath, { read: true, write: true, create: true }),
      hint,
    );
    let held: boolean | null;
    try {
      held = await lock.tryLock(true);
    } catch {
      held = null; // no locks on this file system: other writers cannot be ruled out
    }
    if (held === false) {
      lock.close();
      throw new TempoError(
        `${flag} ${dir} is in use: another tempo process is writing checkpoints there`,
        `wait for it to finish, or choose another ${flag}`,
      );
    }
    const removed: string[] = [];
    if (held) {
      for (const name of (await listRunFolder(dir)).temps) {
        await withFsError(
          "remove the stale temporary entry",
          joinPath(dir, name),
          () => Deno.remove(joinPath(dir, name), { recursive: true }),
        );
        removed.push(name);
      }
    }
    return new RunFolder(dir, held ? lock : (lock.close(), null), removed);
  }

  /** Release the lock. */
  close(): void {
    try {
      this.lock?.close();
    } catch {
      // already closed
    }
  }
}

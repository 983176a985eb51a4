/**
 * A checkpoint's manifest (`manifest.json`, written last inside a step folder): the format and
 * its version, the step, and every other file of the folder with its size and SHA-256. A folder
 * whose files do not match its manifest is refused by name, so a corrupted weight file is found
 * when a run resumes, not as a NaN loss later.
 * @module
 */
import { TempoError } from "../errors.ts";
import { fsCause, fsErrorCode } from "../fs_error.ts";
import { joinPath } from "./run_folder.ts";

/** The manifest's file name. */
export const MANIFEST = "manifest.json";
/** The `format` field of every tempo checkpoint manifest. */
export const CHECKPOINT_FORMAT = "tempo-checkpoint";
/** The version of the layout written; readers refuse other versions by name. */
export const CHECKPOINT_VERSION = 1;

/** One file of a checkpoint. */
export interface ManifestEntry {
  /** File name inside the step folder. */
  name: string;
  /** Size in bytes. */
  bytes: number;
  /** SHA-256 of the contents, lowercase hex. */
  sha256: string;
}

/** The contents of `manifest.json`. */
export interface Manifest {
  /** Always CHECKPOINT_FORMAT. */
  format: string;
  /** CHECKPOINT_VERSION of the writer. */
  version: number;
  /** Optimizer steps done at the save. */
  step: number;
  /** When it was saved (ISO 8601), for people. */
  saved: string;
  /** Every other file of the folder. */
  files: ManifestEntry[];
}

/** SHA-256 of `bytes` as lowercase hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A manifest entry for `bytes` stored as `name`. */
export async function manifestEntry(name: string, bytes: Uint8Array): Promise<ManifestEntry> {
  return { name, bytes: bytes.length, sha256: await sha256Hex(bytes) };
}

/** Build a manifest's JSON text. */
export function manifestText(step: number, files: ManifestEntry[]): string {
  const m: Manifest = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step,
    saved: new Date().toISOString(),
    files,
  };
  return JSON.stringify(m, null, 2) + "\n";
}

function damaged(path: string, what: string): TempoError {
  return new TempoError(`checkpoint file ${path} ${what}`);
}

/** Read and check `dir/manifest.json`; a TempoError names what is wrong. */
export async function readManifest(dir: string): Promise<Manifest> {
  const path = joinPath(dir, MANIFEST);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw fsErrorCode(e) === "ENOENT"
      ? damaged(path, "is missing: the folder is not a complete tempo checkpoint")
      : damaged(path, `cannot be read: ${fsCause(e)}`);
  }
  let m: Manifest;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw damaged(path, `is not JSON (${(e as Error).message})`);
  }
  if (typeof m !== "object" || m === null || m.format !== CHECKPOINT_FORMAT) {
    throw damaged(path, `is not a tempo checkpoint manifest (format ${JSON.stringify(m?.format)})`);
  }
  if (m.version !== CHECKPOINT_VERSION) {
    throw damaged(
      path,
      `has layout version ${m.version}; this tempo reads version ${CHECKPOINT_VERSION}`,
    );
  }
  const ok = Number.isSafeInteger(m.step) && Array.isArray(m.files) &&
    m.files.every((f) =>
      typeof f?.name === "string" && !/[/\\]/.test(f.name) && Number.isSafeInteger(f.bytes) &&
      typeof f.sha256 === "string" && /^[0-9a-f]{64}$/.test(f.sha256)
    );
  if (!ok) throw damaged(path, "has missing or malformed fields");
  return m;
}

function entryOf(dir: string, m: Manifest, name: string): ManifestEntry {
  const e = m.files.find((f) => f.name === name);
  if (!e) throw damaged(joinPath(dir, MANIFEST), `does not list ${name}`);
  return e;
}

/** Check that every file of the manifest exists with its size (cheap: no reading). */
export async function checkSizes(dir: string, m: Manifest): Promise<void> {
  for (const f of m.files) {
    const path = joinPath(dir, f.name);
    let size: number;
    try {
      size = (await Deno.stat(path)).size;
    } catch (e) {
      throw fsErrorCode(e) === "ENOENT"
        ? damaged(path, "is missing (the manifest lists it)")
        : damaged(path, `cannot be read: ${fsCause(e)}`);
    }
    if (size !== f.bytes) {
      throw damaged(
        path,
        `has ${size} bytes, the manifest says ${f.bytes} (${
          size < f.bytes ? "truncated" : "changed"
        } after it was saved)`,
      );
    }
  }
}

/** Read `dir/name` and check its size and SHA-256 against the manifest. */
export async function readVerified(dir: string, m: Manifest, name: string): Promise<Uint8Array> {
  const e = entryOf(dir, m, name);
  const path = joinPath(dir, name);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw fsErrorCode(err) === "ENOENT"
      ? damaged(path, "is missing (the manifest lists it)")
      : damaged(path, `cannot be read: ${fsCause(err)}`);
  }
  if (bytes.length !== e.bytes) {
    throw damaged(
      path,
      `has ${bytes.length} bytes, the manifest says ${e.bytes} (${
        bytes.length < e.bytes ? "truncated" : "changed"
      } after it was saved)`,
    );
  }
  if (await sha256Hex(bytes) !== e.sha256) {
    throw damaged(path, "does not match its SHA-256 in the manifest (changed after it was saved)");
  }
  return bytes;
}

/** Verify every file of a step folder: sizes and checksums. Returns the manifest. */
export async function verifyFolder(dir: string): Promise<Manifest> {
  const m = await readManifest(dir);
  await checkSizes(dir, m);
  for (const f of m.files) await readVerified(dir, m, f.name);
  return m;
}

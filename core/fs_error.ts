/**
 * File-system errors as one clear line: Deno's errors carry a POSIX code (`ENOSPC`, `EROFS`, ...)
 * and a message meant for programmers; `fsError` turns one into a TempoError that names the path,
 * what tempo was doing and the cause in words.
 * @module
 */
import { TempoError } from "./errors.ts";

/** Causes by POSIX code, in words; each is a fact about the path, not about tempo. */
const CAUSES: Readonly<Record<string, string>> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is exceeded",
  EROFS: "the file system is read-only",
  EACCES: "permission denied",
  EPERM: "the operation is not permitted",
  ENOENT: "no such file or folder",
  ENOTDIR: "a part of the path is a file, not a folder",
  EISDIR: "it is a folder, not a file",
  EEXIST: "it already exists",
  ENOTEMPTY: "the folder is not empty",
  EMFILE: "too many open files",
  ENAMETOOLONG: "the name is too long",
  EIO: "an input/output error of the device",
  EBUSY: "the device or file is busy",
  EXDEV: "it is on another file system",
  ELOOP: "too many symbolic links",
};

/** The code tempo gives a refusal by Deno's permission system (not a POSIX code). */
const DENO_PERMISSION = "DENO-PERMISSION";

/**
 * The POSIX code of a file-system error (`ENOSPC`, ...), `DENO-PERMISSION` for a refusal by
 * Deno's permissions (e.g. writing under /proc needs --allow-all), or undefined for anything else.
 */
export function fsErrorCode(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  if (e instanceof Deno.errors.NotCapable) return DENO_PERMISSION;
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) return code;
  if (e instanceof Deno.errors.NotFound) return "ENOENT";
  if (e instanceof Deno.errors.PermissionDenied) return "EACCES";
  if (e instanceof Deno.errors.AlreadyExists) return "EEXIST";
  if (e instanceof Deno.errors.NotADirectory) return "ENOTDIR";
  if (e instanceof Deno.errors.IsADirectory) return "EISDIR";
  return undefined;
}

/** The cause of a file-system error in words, e.g. "no space left on the device (ENOSPC)". */
export function fsCause(e: unknown): string {
  const code = fsErrorCode(e);
  if (code === undefined) return e instanceof Error ? e.message.split("\n")[0] : String(e);
  if (code === DENO_PERMISSION) {
    return `Deno's permissions refuse it (${(e as Error).message.split("\n")[0]})`;
  }
  return `${CAUSES[code] ?? (e as Error).message.replace(/ \(os error \d+\).*$/, "")} (${code})`;
}

/**
 * `e` as a TempoError naming `path` and what was being done ("cannot write checkpoint ... : no
 * space left on the device (ENOSPC)"). Errors that are not file-system errors, and TempoErrors,
 * come back unchanged.
 */
export function fsError(e: unknown, doing: string, path: string, hint = ""): unknown {
  if (e instanceof TempoError || fsErrorCode(e) === undefined) return e;
  return new TempoError(`cannot ${doing} ${path}: ${fsCause(e)}`, hint, e);
}

/** Run `f`; a file-system error it throws becomes `fsError(e, doing, path, hint)`. */
export async function withFsError<T>(
  doing: string,
  path: string,
  f: () => Promise<T>,
  hint = "",
): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw fsError(e, doing, path, hint);
  }
}

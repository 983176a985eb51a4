/**
 * Finds the text files to prepare: named files as given, folders searched recursively for text
 * extensions (hidden entries and symlinked folders skipped), in a stable sorted order.
 *
 * @module
 */

import { extname, join, resolve } from "node:path";
import { DatasetError } from "./errors.ts";

/** Extensions taken from folders by default. */
export const TEXT_EXTENSIONS: readonly string[] = [".txt", ".text", ".md", ".markdown", ".rst"];

/** A file to read, with its size in bytes. */
export interface TextFile {
  /** The path. */
  path: string;
  /** Size in bytes (for progress). */
  size: number;
}

async function statInput(path: string): Promise<Deno.FileInfo> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DatasetError(`Input ${path} does not exist. Check the path.`);
    }
    throw e;
  }
}

async function walk(dir: string, exts: Set<string>, out: TextFile[]): Promise<void> {
  const entries: Deno.DirEntry[] = [];
  for await (const e of Deno.readDir(dir)) entries.push(e);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith(".")) continue;
    const path = join(dir, e.name);
    if (e.isDirectory) await walk(path, exts, out);
    else if ((e.isFile || e.isSymlink) && exts.has(extname(e.name).toLowerCase())) {
      const info = await Deno.stat(path).catch(() => null); // Skip dangling links.
      if (info?.isFile) out.push({ path, size: info.size });
    }
  }
}

/**
 * Files named in `inputs` (any extension) plus text files found under the folders in `inputs`.
 * Throws a DatasetError for a missing input or when no text file is found.
 */
export async function findTextFiles(
  inputs: readonly string[],
  extensions: readonly string[] = TEXT_EXTENSIONS,
): Promise<TextFile[]> {
  if (inputs.length === 0) {
    throw new DatasetError("No inputs given. Pass text files or folders of text files.");
  }
  const exts = new Set(extensions.map((e) => (e.startsWith(".") ? e : "." + e).toLowerCase()));
  const found: TextFile[] = [];
  for (const input of inputs) {
    const info = await statInput(input);
    if (info.isDirectory) await walk(input, exts, found);
    else found.push({ path: input, size: info.size });
  }
  const seen = new Set<string>();
  const files = found.filter((f) => {
    const key = resolve(f.path);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  if (files.length === 0) {
    throw new DatasetError(
      `No text files found in ${inputs.join(", ")} (looked for ${[...exts].join(" ")}). ` +
        `Pass text files directly, or folders that contain such files.`,
    );
  }
  return files;
}

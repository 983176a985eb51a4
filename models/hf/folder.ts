/**
 * Hugging Face model folders on disk: writing one (`model.safetensors`, `config.json`, and the
 * tokenizer files the caller gives), and reading one (`config.json` and `model.safetensors`, or
 * the shards a `model.safetensors.index.json` names; F16/BF16 widened to f32). Every failure is
 * one TempoError naming the path and what to do.
 * @module
 */
import { TempoError } from "../../core/errors.ts";
import { withFsError } from "../../core/fs_error.ts";
import { ensureFolder, joinPath } from "../../core/train/run_folder.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type HostTensor,
} from "../../core/train/safetensors.ts";
import type { HfConfigJson } from "./config.ts";

/** The weights file of a folder. */
export const HF_WEIGHTS = "model.safetensors";
/** The index of a sharded folder. */
export const HF_INDEX = "model.safetensors.index.json";
/** The configuration file. */
export const HF_CONFIG = "config.json";

/** What a folder holds. */
export interface HfFolder {
  /** config.json. */
  config: HfConfigJson;
  /** Every tensor, by name. */
  tensors: Record<string, HostTensor>;
}

/**
 * Write an HF folder: the tensors as `model.safetensors` (metadata format "pt", as
 * save_pretrained writes), `config.json`, and `files` (name -> text). The folder may be new,
 * empty, or hold only files an export writes (it is then overwritten); anything else in it is a
 * refusal, so an export never mixes with another model's files.
 */
export async function writeHfFolder(
  dir: string,
  tensors: Record<string, HostTensor>,
  config: HfConfigJson,
  files: Record<string, string>,
  exportNames: readonly string[],
): Promise<string[]> {
  const hint = "choose a new or empty --out folder";
  await withFsError("create the --out folder", dir, () => ensureFolder(dir), hint);
  const strangers: string[] = [];
  await withFsError("list the --out folder", dir, async () => {
    for await (const e of Deno.readDir(dir)) {
      if (!exportNames.includes(e.name)) strangers.push(e.name);
    }
  });
  if (strangers.length) {
    throw new TempoError(
      `--out ${dir} already holds other files (${strangers.slice(0, 3).join(", ")}${
        strangers.length > 3 ? ", ..." : ""
      })`,
      hint,
    );
  }
  const written: string[] = [];
  const write = async (name: string, data: Uint8Array) => {
    const path = joinPath(dir, name);
    await withFsError("write", path, () => Deno.writeFile(path, data), hint);
    written.push(name);
  };
  await write(HF_WEIGHTS, encodeSafetensors(tensors, { format: "pt" }));
  await write(HF_CONFIG, new TextEncoder().encode(JSON.stringify(config, null, 2) + "\n"));
  for (const [name, text] of Object.entries(files)) {
    await write(name, new TextEncoder().encode(text));
  }
  return written;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Read an HF folder (see the module doc). `flag` names where the path came from. */
export async function readHfFolder(dir: string, flag: string): Promise<HfFolder> {
  const hint = "pass a folder written by `tempo export` or Hugging Face's save_pretrained";
  const info = await withFsError(`open the ${flag} folder`, dir, () => Deno.stat(dir), hint);
  if (!info.isDirectory) throw new TempoError(`${flag} ${dir} is a file, not a model folder`, hint);
  const cfgPath = joinPath(dir, HF_CONFIG);
  if (!(await exists(cfgPath))) {
    throw new TempoError(`${flag} ${dir} has no ${HF_CONFIG}`, hint);
  }
  let config: HfConfigJson;
  try {
    config = JSON.parse(await Deno.readTextFile(cfgPath));
  } catch (e) {
    throw new TempoError(`${cfgPath} is not JSON (${(e as Error).message})`, hint);
  }
  const read = async (name: string) => {
    const path = joinPath(dir, name);
    const bytes = await withFsError("read", path, () => Deno.readFile(path), hint);
    return decodeSafetensors(bytes, path, { widen: true }).tensors;
  };
  if (await exists(joinPath(dir, HF_WEIGHTS))) return { config, tensors: await read(HF_WEIGHTS) };
  if (await exists(joinPath(dir, HF_INDEX))) {
    const indexPath = joinPath(dir, HF_INDEX);
    let map: Record<string, string>;
    try {
      map = JSON.parse(await Deno.readTextFile(indexPath)).weight_map;
      if (!map || typeof map !== "object") throw new Error("no weight_map");
    } catch (e) {
      throw new TempoError(`${indexPath} is not a safetensors index (${(e as Error).message})`);
    }
    const tensors: Record<string, HostTensor> = {};
    for (const shard of new Set(Object.values(map))) Object.assign(tensors, await read(shard));
    return { config, tensors };
  }
  const bin = await exists(joinPath(dir, "pytorch_model.bin"));
  throw new TempoError(
    `${flag} ${dir} has no ${HF_WEIGHTS}` + (bin ? " (only pytorch_model.bin)" : ""),
    bin
      ? "tempo reads safetensors only: in Python, load the folder with from_pretrained and " +
        "save_pretrained it again (safetensors is the default)"
      : hint,
  );
}

/**
 * Checkpoints: `<dir>/model.safetensors` (weights), `<dir>/optimizer.safetensors` (AdamW moments)
 * and `<dir>/state.json` (step, data position, config, options). Every file is written to a
 * temporary name and renamed, and state.json last, so an interrupted save never leaves a
 * checkpoint that looks complete but is not.
 * @module
 */
import type { Encoder } from "../encoder.ts";
import { TempoError } from "../errors.ts";
import type { Tensor } from "../tensor.ts";
import type { TrainParam } from "./model.ts";
import { decodeSafetensors, encodeSafetensors, type HostTensor } from "./safetensors.ts";

/** The JSON part of a checkpoint. */
export interface CheckpointState {
  /** Optimizer steps done. */
  step: number;
  /** Data position of the training source. */
  data: Record<string, unknown>;
  /** Anything else the caller wants to restore (config, flags, seed). */
  run: Record<string, unknown>;
}

/** Write bytes atomically: a temp file in the same folder, then rename. */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  if (typeof data === "string") await Deno.writeTextFile(tmp, data);
  else await Deno.writeFile(tmp, data);
  await Deno.rename(tmp, path);
}

async function readAll(enc: Encoder, ts: { name: string; t: Tensor }[]) {
  const out: Record<string, HostTensor> = {};
  for (const { name, t } of ts) {
    out[name] = { shape: [...t.shape], data: new Float32Array(await enc.read(t)) };
  }
  return out;
}

/** Save parameters, moments and state under `dir`. */
export async function saveCheckpoint(
  dir: string,
  enc: Encoder,
  params: readonly TrainParam[],
  moments: readonly { m: Tensor; v: Tensor }[],
  state: CheckpointState,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const weights = await readAll(enc, params.map((p) => ({ name: p.name, t: p.value })));
  const opt = await readAll(enc, [
    ...params.map((p, i) => ({ name: `${p.name}.m`, t: moments[i].m })),
    ...params.map((p, i) => ({ name: `${p.name}.v`, t: moments[i].v })),
  ]);
  await writeAtomic(`${dir}/model.safetensors`, encodeSafetensors(weights, { format: "pt" }));
  await writeAtomic(`${dir}/optimizer.safetensors`, encodeSafetensors(opt));
  await writeAtomic(`${dir}/state.json`, JSON.stringify(state, null, 2) + "\n");
}

/** Load a checkpoint saved by `saveCheckpoint` into the given tensors; returns its state. */
export async function loadCheckpoint(
  dir: string,
  enc: Encoder,
  params: readonly TrainParam[],
  moments: readonly { m: Tensor; v: Tensor }[],
): Promise<CheckpointState> {
  let stateText: string;
  try {
    stateText = await Deno.readTextFile(`${dir}/state.json`);
  } catch {
    throw new TempoError(
      `no checkpoint at ${dir} (state.json missing)`,
      "pass the --out folder of an earlier run that saved a checkpoint (--save-every)",
    );
  }
  const state = JSON.parse(stateText) as CheckpointState;
  const w = decodeSafetensors(await Deno.readFile(`${dir}/model.safetensors`), "model.safetensors");
  const o = decodeSafetensors(
    await Deno.readFile(`${dir}/optimizer.safetensors`),
    "optimizer.safetensors",
  );
  const put = (t: Tensor, h: HostTensor | undefined, name: string) => {
    if (!h || h.data.length !== t.size) {
      throw new TempoError(
        `checkpoint ${dir} does not match the model: tensor '${name}' is missing or has another shape`,
        "resume with the same --model and config as the run that saved it",
      );
    }
    enc.write(t, h.data);
  };
  params.forEach((p, i) => {
    put(p.value, w.tensors[p.name], p.name);
    put(moments[i].m, o.tensors[`${p.name}.m`], `${p.name}.m`);
    put(moments[i].v, o.tensors[`${p.name}.v`], `${p.name}.v`);
  });
  return state;
}

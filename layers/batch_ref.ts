/**
 * Host batches for layer tests: uploads the arrays a test names as the BatchTensors a model would
 * build (gather indices from `buildGatherIndex`, padded as the model pads them); arrays a test
 * leaves out become a single 0 (or -1 for targets), never read by the layer under test.
 * @module
 */
import { buildGatherIndex } from "../core/ops/embedding.ts";
import type { GpuFixture } from "../core/testing.ts";
import type { Tensor } from "../core/tensor.ts";
import type { BatchTensors, GatherIndexTensors } from "./batch_tensors.ts";

/** The host arrays of a test batch (N = ids.length rows). */
export interface HostBatch {
  /** [N] token ids. */
  ids?: ArrayLike<number>;
  /** [N] position ids. */
  positions?: ArrayLike<number>;
  /** [N] token types. */
  types?: ArrayLike<number>;
  /** [N] 1 real / 0 pad. */
  padMask?: ArrayLike<number>;
  /** [R] targets (-1 = ignore). */
  targets?: ArrayLike<number>;
  /** [M] masked positions. */
  maskedPositions?: ArrayLike<number>;
}

/** Upload `h`; `release` frees every tensor it made. */
export function uploadBatch(
  f: GpuFixture,
  h: HostBatch,
): { batch: BatchTensors; release: () => void } {
  const made: Tensor[] = [];
  const up = (data: ArrayLike<number>, n = data.length) => {
    const padded = new Int32Array(Math.max(n, 1));
    padded.set(Array.from(data));
    const t = f.upload(padded, [padded.length], "i32");
    made.push(t);
    return t;
  };
  const index = (ids: ArrayLike<number>): GatherIndexTensors => {
    const ix = buildGatherIndex(Int32Array.from(ids));
    return {
      unique: up(ix.unique, ids.length),
      starts: up(ix.starts, ids.length + 1),
      order: up(ix.order),
      count: ix.unique.length,
    };
  };
  const ids = h.ids ?? [0], positions = h.positions ?? [0], targets = h.targets ?? [-1];
  let targetCount = 0;
  for (let i = 0; i < targets.length; i++) if (targets[i] >= 0) targetCount++;
  const batch: BatchTensors = {
    ids: up(ids),
    positions: up(positions),
    types: h.types ? up(h.types) : null,
    padMask: h.padMask ? up(h.padMask) : null,
    targets: up(targets),
    maskedPositions: h.maskedPositions ? up(h.maskedPositions) : null,
    idsIndex: index(ids),
    positionsIndex: index(positions),
    typesIndex: h.types ? index(h.types) : null,
    targetCount,
  };
  return { batch, release: () => made.forEach((t) => f.alloc.release(t)) };
}

/**
 * A batch's host arrays onto the device as the `BatchTensors` the layers read (ids, positions,
 * token types, padding mask, targets, masked and CLS positions, NSP labels, and the host-built
 * gather indices of the embedding backward), and their release. One place for the training model
 * and the inference models, so both upload a batch the same way.
 * @module
 */
import { buildGatherIndex } from "../core/ops/embedding.ts";
import type { StepContext } from "../core/step.ts";
import type { Tensor } from "../core/tensor.ts";
import type { BatchTensors, GatherIndexTensors } from "../layers/batch_tensors.ts";

/** A batch on the host, N = B*T rows. */
export interface HostBatch {
  /** [N] token ids. */
  ids: Int32Array;
  /** [N] position ids. */
  positions: Int32Array;
  /** [N] token types, or null (no token-type table). */
  types: Int32Array | null;
  /** [N] 1 real / 0 pad, or null (causal batches are never padded). */
  padMask: Int32Array | null;
  /** [R] targets of the loss rows; -1 = ignore. */
  targets: Int32Array;
  /** [M] flat positions of the rows a head reads (MLM), or null. */
  maskedPositions: Int32Array | null;
  /** [B] each sequence's first row (NSP), or null. */
  clsPositions: Int32Array | null;
  /** [B] next-sentence labels, or null. */
  nspLabels: Int32Array | null;
}

/** Upload `host` (workspace tensors, released by `releaseBatch`). */
export function uploadBatch(ctx: StepContext, host: HostBatch): BatchTensors {
  const a = ctx.alloc, enc = ctx.enc, N = host.ids.length;
  const up = (label: string, data: Int32Array) => {
    const t = a.alloc([data.length], "i32", "workspace", label);
    enc.write(t, data);
    return t;
  };
  const upIndex = (label: string, ids: Int32Array): GatherIndexTensors => {
    const ix = buildGatherIndex(ids);
    return {
      unique: up(`${label}.unique`, padTo(ix.unique, N)),
      starts: up(`${label}.starts`, padTo(ix.starts, N + 1)),
      order: up(`${label}.order`, ix.order),
      count: ix.unique.length,
    };
  };
  let count = 0;
  for (const t of host.targets) if (t >= 0) count++;
  return {
    ids: up("batch.ids", host.ids),
    positions: up("batch.positions", host.positions),
    types: host.types ? up("batch.types", host.types) : null,
    padMask: host.padMask ? up("batch.pad", host.padMask) : null,
    targets: up("batch.targets", host.targets),
    maskedPositions: host.maskedPositions
      ? up("batch.maskedPositions", host.maskedPositions)
      : null,
    clsPositions: host.clsPositions ? up("batch.clsPositions", host.clsPositions) : null,
    nspLabels: host.nspLabels ? up("batch.nspLabels", host.nspLabels) : null,
    idsIndex: upIndex("batch.ids.index", host.ids),
    positionsIndex: upIndex("batch.positions.index", host.positions),
    typesIndex: host.types ? upIndex("batch.types.index", host.types) : null,
    targetCount: count,
  };
}

/** Release every tensor of an uploaded batch. */
export function releaseBatch(ctx: StepContext, b: BatchTensors): void {
  const r = (t: Tensor | null) => t && ctx.alloc.release(t);
  const ri = (ix: GatherIndexTensors | null) => {
    if (ix) r(ix.unique), r(ix.starts), r(ix.order);
  };
  r(b.ids), r(b.positions), r(b.types), r(b.padMask), r(b.targets), r(b.maskedPositions);
  r(b.clsPositions ?? null), r(b.nspLabels ?? null);
  ri(b.idsIndex), ri(b.positionsIndex), ri(b.typesIndex);
}

function padTo(a: Int32Array, n: number): Int32Array {
  if (a.length === n) return a;
  const out = new Int32Array(n);
  out.set(a);
  return out;
}

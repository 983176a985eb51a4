/**
 * The device copy of one batch: token ids, positions, masks, targets and the host-built gather
 * indices that make the embedding backward deterministic. Allocated per step (workspace) by the
 * model and read by the layers that need batch data.
 * @module
 */
import type { Tensor } from "../core/tensor.ts";

/** The inverse index of a gather: rows grouped by id (see `buildGatherIndex`). */
export interface GatherIndexTensors {
  /** [U] distinct ids, i32. */
  unique: Tensor;
  /** [U+1] group starts into `order`, i32. */
  starts: Tensor;
  /** [N] row positions grouped by id, i32. */
  order: Tensor;
  /** U. */
  count: number;
}

/** Batch data on the device. Shapes: N = B*T rows, M masked positions. */
export interface BatchTensors {
  /** [N] token ids. */
  ids: Tensor;
  /** [N] position ids (t of each row). */
  positions: Tensor;
  /** [N] token types, or null. */
  types: Tensor | null;
  /** [N] 1 real / 0 pad, or null when nothing is padded. */
  padMask: Tensor | null;
  /** [R] targets of the loss rows (N for causal LM, M for MLM); -1 = ignore. */
  targets: Tensor;
  /** [M] masked positions (MLM), or null. */
  maskedPositions: Tensor | null;
  /** Gather index of `ids` (for the word-embedding gradient). */
  idsIndex: GatherIndexTensors;
  /** Gather index of `positions`. */
  positionsIndex: GatherIndexTensors;
  /** Gather index of `types`, or null. */
  typesIndex: GatherIndexTensors | null;
  /** Host count of targets >= 0 (the loss is their mean). */
  targetCount: number;
  /** [B] row of each sequence's first token (b*T), for the NSP pooler; null without NSP. */
  clsPositions?: Tensor | null;
  /** [B] next-sentence labels; null without NSP. */
  nspLabels?: Tensor | null;
}

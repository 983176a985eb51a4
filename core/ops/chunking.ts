/**
 * Operands larger than one storage binding (128 MiB on the software adapter; GPT-2's embedding
 * is 154 MB): the binding limit an op works under, and two ways of splitting a problem into
 * pieces that each fit.
 * - `spans`: runs of whole items (rows, elements, batch items) whose starts are multiples of a
 *   unit, so that every operand's byte offset is a multiple of the storage alignment and the
 *   kernel indexes from 0 (softmax, LayerNorm, GELU, dropout, head layouts).
 * - `chunksOf`: runs of whole rows of one tensor bound from the aligned offset at or below their
 *   start, with `base` locating the first row inside the binding (row ops, embeddings, AdamW,
 *   cross-entropy, bias ops, the gradient norm).
 * @module
 */
import type { Bindable, TensorRange } from "../encoder.ts";
import type { Gpu } from "../gpu.ts";
import type { Tensor } from "../tensor.ts";

/** Options of every op whose operands may exceed one storage binding. */
export interface ChunkOptions {
  /** Largest storage binding in bytes (default gpu.maxBinding); tests lower it to force chunks. */
  maxBindingBytes?: number;
}

/** The largest binding an op may use: gpu.maxBinding, or less where a test asks for less. */
export function bindingLimit(gpu: Gpu, maxBindingBytes?: number): number {
  return Math.min(maxBindingBytes ?? gpu.maxBinding, gpu.maxBinding);
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Items per aligned start: the fewest items of `itemBytes` bytes spanning a multiple of the alignment. */
export function alignedItems(gpu: Gpu, itemBytes: number): number {
  return gpu.storageAlign / gcd(itemBytes, gpu.storageAlign);
}

/** A run of items [first, first + count); `whole` when it is all of them. */
export interface Span {
  /** First item. */
  first: number;
  /** Items in the span. */
  count: number;
  /** Whether the span is the whole problem (operands may be bound whole). */
  whole: boolean;
}

/** What `spans` splits. */
export interface SpanRequest extends ChunkOptions {
  /** Items in the problem. */
  count: number;
  /** Bytes per item of the widest operand. */
  itemBytes: number;
  /** Span starts are multiples of this many items (every operand's offset then aligns). */
  unit: number;
  /** What an item is, for the error message ("rows of 37 channels"). */
  what: string;
}

/**
 * Spans of whole items that fit one binding: one whole span when all `count` items fit,
 * otherwise spans of the largest multiple of `unit` items that fits. Throws (naming `op`) when
 * not even `unit` items fit.
 */
export function spans(op: string, gpu: Gpu, r: SpanRequest): Span[] {
  const limit = bindingLimit(gpu, r.maxBindingBytes);
  if (r.count * r.itemBytes <= limit) return [{ first: 0, count: r.count, whole: true }];
  const per = Math.floor(limit / r.itemBytes / r.unit) * r.unit;
  if (per < 1) {
    throw new Error(
      `${op}: ${r.unit} ${r.what} do not fit a storage binding of ${limit} bytes; unsupported`,
    );
  }
  const out: Span[] = [];
  for (let first = 0; first < r.count; first += per) {
    out.push({ first, count: Math.min(per, r.count - first), whole: false });
  }
  return out;
}

/**
 * The binding of span `s` of `t`, `itemBytes` bytes per item: the whole tensor when the span is
 * the whole problem, unless `exact` (vec4 bindings need exactly a multiple of 16 bytes).
 */
export function spanRange(t: Tensor, s: Span, itemBytes: number, exact = false): Bindable {
  if (s.whole && !exact) return t;
  return { tensor: t, offset: s.first * itemBytes, size: s.count * itemBytes };
}

/** One chunk of a tensor viewed as consecutive units (rows) of `unitElems` 4-byte elements. */
export interface Chunk {
  /** First unit (row) of the chunk. */
  first: number;
  /** Units in the chunk (the last unit may be partial when the element count is not a multiple). */
  count: number;
  /** The binding: an aligned byte range of the tensor. */
  range: TensorRange;
  /** Element index of unit `first` inside `range` (the range starts at an aligned offset). */
  base: number;
}

/**
 * Split elements [0, elems) of a 4-byte-element tensor into chunks of whole units that each fit
 * one storage binding of `maxBindingBytes` (default `gpu.maxBinding`). Offsets are multiples of
 * `gpu.storageAlign`; `base` locates the first unit inside the range.
 */
export function chunksOf(
  gpu: Gpu,
  t: Tensor,
  elems: number,
  unitElems: number,
  maxBindingBytes?: number,
): Chunk[] {
  if (t.size < elems) throw new Error(`chunksOf: tensor ${t} has fewer than ${elems} elements`);
  const align = gpu.storageAlign;
  const unitBytes = 4 * unitElems;
  const maxBinding = bindingLimit(gpu, maxBindingBytes);
  const units = Math.ceil(elems / unitElems);
  if (elems * 4 <= maxBinding) {
    return [{
      first: 0,
      count: units,
      range: { tensor: t, offset: 0, size: Math.max(4, elems * 4) },
      base: 0,
    }];
  }
  const perChunk = Math.floor((maxBinding - align + 4) / unitBytes);
  if (perChunk < 1) {
    throw new Error(
      `chunksOf: one row of ${unitBytes} bytes of ${t} does not fit a binding of ${maxBinding} ` +
        `bytes (alignment ${align}); unsupported row size`,
    );
  }
  const out: Chunk[] = [];
  for (let first = 0; first < units; first += perChunk) {
    const count = Math.min(perChunk, units - first);
    const startByte = first * unitBytes;
    const endByte = Math.min((first + count) * unitElems, elems) * 4;
    const offset = Math.floor(startByte / align) * align;
    out.push({
      first,
      count,
      range: { tensor: t, offset, size: endByte - offset },
      base: (startByte - offset) / 4,
    });
  }
  return out;
}

/** An aligned byte range covering elements [first, first + count) of `t`, and where they start. */
export function elementRange(
  gpu: Gpu,
  t: Tensor,
  first: number,
  count: number,
): { range: TensorRange; base: number } {
  const startByte = 4 * first;
  const offset = Math.floor(startByte / gpu.storageAlign) * gpu.storageAlign;
  return {
    range: { tensor: t, offset, size: Math.max(4, 4 * (first + count) - offset) },
    base: (startByte - offset) / 4,
  };
}

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
 * Both take operands of any dtype (16-bit ones are two elements per word): spans by the element
 * bytes of each operand (`elementUnit`, `alignedRows`, `spanOf`), chunks by the tensor's.
 * @module
 */
import { bytesOf, type DType, elementBytes } from "../dtype.ts";
import { type Bindable, rangeOf, type TensorRange } from "../encoder.ts";
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

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/**
 * Items per aligned start for operands of these bytes per item: the fewest items after which
 * every operand's offset is a multiple of the storage alignment (e.g. rows of a [R, C] bf16
 * input and of an [R] f32 output).
 */
export function alignedItemsOf(gpu: Gpu, itemBytes: readonly number[]): number {
  return itemBytes.reduce((u, b) => lcm(u, alignedItems(gpu, b)), 1);
}

/**
 * Elements per aligned start of flat operands of these dtypes: storageAlign / 4 for 32-bit
 * operands (64 elements), storageAlign / 2 when one is 16-bit (128), so that every operand's
 * offset aligns and 16-bit spans start on whole words.
 */
export function elementUnit(gpu: Gpu, dtypes: readonly DType[]): number {
  return alignedItemsOf(gpu, dtypes.map(elementBytes));
}

/** Bytes per element of the widest of `dtypes` (what one element costs a binding). */
export function widestElement(dtypes: readonly DType[]): number {
  return Math.max(...dtypes.map(elementBytes));
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

/**
 * The binding of span `s` of `t` with `perItem` elements per item (`rangeOf`: offsets on words,
 * 16-bit ranges of odd count end in their last word's padding half): the whole tensor when the
 * span is the whole problem, unless `exact` (vec4 bindings need exactly the items' bytes). For
 * f32 the same range as `spanRange(t, s, 4 * perItem, exact)`.
 */
export function spanOf(t: Tensor, s: Span, perItem = 1, exact = false): Bindable {
  if (s.whole && !exact) return t;
  return rangeOf(t, s.first * perItem, s.count * perItem);
}

/** One chunk of a tensor viewed as consecutive units (rows) of `unitElems` elements. */
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
 * Split elements [0, elems) of a tensor (32-bit or 16-bit elements) into chunks of whole units
 * that each fit one storage binding of `maxBindingBytes` (default `gpu.maxBinding`). Offsets are
 * multiples of `gpu.storageAlign`; `base` locates the first unit inside the range. For 16-bit
 * tensors every chunk starts on a whole word (units of odd length come in even counts per chunk,
 * so `base` is even and kernels can store whole pairs) and ranges end on whole words.
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
  const eb = elementBytes(t.dtype);
  const unitBytes = eb * unitElems;
  const maxBinding = bindingLimit(gpu, maxBindingBytes);
  const units = Math.ceil(elems / unitElems);
  if (bytesOf(t.dtype, elems) <= maxBinding) {
    return [{
      first: 0,
      count: units,
      range: { tensor: t, offset: 0, size: Math.max(4, bytesOf(t.dtype, elems)) },
      base: 0,
    }];
  }
  // A range starts at most align - eb bytes before its first unit and, for 16-bit elements,
  // ends at most 2 bytes past its last one (the word's other half).
  let perChunk = Math.floor((maxBinding - align + 2 * eb - 4) / unitBytes);
  if (eb === 2 && unitElems % 2 === 1) perChunk -= perChunk % 2;
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
    const endByte = bytesOf(t.dtype, Math.min((first + count) * unitElems, elems));
    const offset = Math.floor(startByte / align) * align;
    out.push({
      first,
      count,
      range: { tensor: t, offset, size: endByte - offset },
      base: (startByte - offset) / eb,
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

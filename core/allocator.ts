/**
 * The allocator: every tensor of a run comes from here, tagged with a category, so that live bytes
 * per category (and per dtype) and the peak of their sum are exact. Two back-ends share the
 * accounting:
 * `gpu` (pooled GPUBuffers by size class; never create/destroy per op) and `plan` (no buffers:
 * the real allocation sequence of a step, measured without a GPU).
 * @module
 */
import { bytesOf, type DType, DTYPES, numel } from "./dtype.ts";
import { OutOfMemoryError } from "./errors.ts";
import { CATEGORIES, type Category, Tensor } from "./tensor.ts";

/** Bytes per category. */
export type ByCategory = Record<Category, number>;

/** A zeroed per-category record. */
export function zeroByCategory(): ByCategory {
  return { param: 0, grad: 0, optimizer: 0, activation: 0, workspace: 0 };
}

/** Bytes per dtype. */
export type ByDtype = Record<DType, number>;

/** A zeroed per-dtype record. */
export function zeroByDtype(): ByDtype {
  return { f32: 0, f16: 0, bf16: 0, u32: 0, i32: 0, u8: 0, bit: 0 };
}

/** Options of an allocator. */
export interface AllocatorOptions {
  /** The device; omit for planning mode (no buffers). */
  device?: GPUDevice;
  /** Live bytes (all categories) above which `alloc` throws OutOfMemoryError. */
  memoryLimit?: number;
}

/** A snapshot of the accounting. */
export interface MemoryReport {
  /** Live bytes per category now. */
  live: ByCategory;
  /** Sum of `live`. */
  liveTotal: number;
  /** Peak of the live total since the last `resetPeak()`. */
  peak: number;
  /** Live bytes per category at the moment of that peak. */
  peakByCategory: ByCategory;
  /** Label of the allocation that set the peak. */
  peakAt: string;
  /** Live bytes per dtype now (sums to `liveTotal`). */
  liveByDtype: ByDtype;
  /** Live bytes per dtype at the moment of the peak (sums to `peak`). */
  peakByDtype: ByDtype;
  /** Live bytes of category `activation` per dtype now (sums to `live.activation`). */
  activationByDtype: ByDtype;
  /** Bytes of GPU buffers held (in use and pooled); 0 in planning mode. */
  pooledBytes: number;
}

const MIN_CLASS = 256;

/**
 * Size class for a request: multiples of 256 B up to 4 KiB, then steps of 1/8 of the power of two
 * (at most 12.5% slack). Buffers are reused only within a class.
 */
export function sizeClass(bytes: number): number {
  const b = Math.max(bytes, 4);
  if (b <= 4096) return Math.ceil(b / MIN_CLASS) * MIN_CLASS;
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 8;
  return Math.ceil(b / step) * step;
}

/** Allocates and accounts tensors. */
export class Allocator {
  /** `gpu` when it owns real buffers, `plan` when it only accounts. */
  readonly mode: "gpu" | "plan";
  /** Limit in bytes, or undefined. */
  memoryLimit: number | undefined;
  readonly #device: GPUDevice | undefined;
  readonly #pool = new Map<number, GPUBuffer[]>();
  readonly #live = zeroByCategory();
  #liveTotal = 0;
  #peak = 0;
  #peakByCategory = zeroByCategory();
  #peakAt = "";
  readonly #liveByDtype = zeroByDtype();
  #peakByDtype = zeroByDtype();
  readonly #activationByDtype = zeroByDtype();
  #pooledBytes = 0;
  readonly #liveTensors = new Set<Tensor>();

  constructor(options: AllocatorOptions = {}) {
    this.#device = options.device;
    this.mode = options.device ? "gpu" : "plan";
    this.memoryLimit = options.memoryLimit;
  }

  /** Allocate a tensor of `shape` and `dtype` in `category`; contents are undefined (pooled). */
  alloc(shape: readonly number[], dtype: DType, category: Category, label: string): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new Error(`alloc '${label}': bad shape [${shape.join(",")}]`);
      }
    }
    const probe = new Tensor(shape, dtype, category, label, null);
    const bytes = probe.bytes;
    if (this.memoryLimit !== undefined && this.#liveTotal + bytes > this.memoryLimit) {
      throw new OutOfMemoryError(category, bytes, this.#liveTotal, this.memoryLimit, label);
    }
    let buffer: GPUBuffer | null = null;
    if (this.#device) buffer = this.#take(sizeClass(bytes), label);
    const t = buffer ? new Tensor(shape, dtype, category, label, buffer) : probe;
    this.#add(category, dtype, bytes, label);
    this.#liveTensors.add(t);
    return t;
  }

  /** Take one more reference to `t` (e.g. a layer saving its input). */
  retain(t: Tensor): Tensor {
    if (t.refs <= 0) throw new Error(`retain of freed tensor ${t}`);
    t.refs++;
    return t;
  }

  /** Drop one reference; the tensor is freed (its buffer returned to the pool) at zero. */
  release(t: Tensor): void {
    if (t.refs <= 0) throw new Error(`double free of tensor ${t}`);
    if (--t.refs > 0) return;
    this.#liveTensors.delete(t);
    this.#add(t.category, t.dtype, -t.bytes, t.label);
    if (t.buffer) {
      const cls = t.buffer.size;
      let list = this.#pool.get(cls);
      if (!list) this.#pool.set(cls, list = []);
      list.push(t.buffer);
    }
  }

  /** Move a live tensor's bytes to another category (e.g. workspace -> activation when saved). */
  recategorize(t: Tensor, category: Category): void {
    if (t.category === category) return;
    this.#live[t.category] -= t.bytes;
    this.#live[category] += t.bytes;
    if (t.category === "activation") this.#activationByDtype[t.dtype] -= t.bytes;
    if (category === "activation") this.#activationByDtype[t.dtype] += t.bytes;
    t.category = category;
  }

  /** Tensors currently live, for leak reports. */
  liveTensors(): Tensor[] {
    return [...this.#liveTensors];
  }

  /** Start a new peak window (e.g. at the start of a step). */
  resetPeak(): void {
    this.#peak = this.#liveTotal;
    this.#peakByCategory = { ...this.#live };
    this.#peakByDtype = { ...this.#liveByDtype };
    this.#peakAt = "reset";
  }

  /** The accounting now. */
  report(): MemoryReport {
    return {
      live: { ...this.#live },
      liveTotal: this.#liveTotal,
      peak: this.#peak,
      peakByCategory: { ...this.#peakByCategory },
      peakAt: this.#peakAt,
      liveByDtype: { ...this.#liveByDtype },
      peakByDtype: { ...this.#peakByDtype },
      activationByDtype: { ...this.#activationByDtype },
      pooledBytes: this.#pooledBytes,
    };
  }

  /** Destroy pooled (free) buffers. Live tensors are untouched. */
  trim(): void {
    for (const list of this.#pool.values()) {
      for (const b of list) {
        this.#pooledBytes -= b.size;
        b.destroy();
      }
    }
    this.#pool.clear();
  }

  #take(cls: number, label: string): GPUBuffer {
    const list = this.#pool.get(cls);
    const reused = list?.pop();
    if (reused) return reused;
    const buffer = this.#device!.createBuffer({
      label,
      size: cls,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.#pooledBytes += cls;
    return buffer;
  }

  #add(category: Category, dtype: DType, bytes: number, label: string): void {
    this.#live[category] += bytes;
    this.#liveByDtype[dtype] += bytes;
    if (category === "activation") this.#activationByDtype[dtype] += bytes;
    this.#liveTotal += bytes;
    if (this.#liveTotal > this.#peak) {
      this.#peak = this.#liveTotal;
      this.#peakByCategory = { ...this.#live };
      this.#peakByDtype = { ...this.#liveByDtype };
      this.#peakAt = label;
    }
  }
}

/** Sum of a per-category record. */
export function totalOf(b: ByCategory): number {
  let s = 0;
  for (const c of CATEGORIES) s += b[c];
  return s;
}

/** Sum of a per-dtype record. */
export function totalOfDtypes(b: ByDtype): number {
  let s = 0;
  for (const d of DTYPES) s += b[d];
  return s;
}

/** Bytes of a shape/dtype without allocating (for planners). */
export function tensorBytes(shape: readonly number[], dtype: DType): number {
  return bytesOf(dtype, numel(shape));
}

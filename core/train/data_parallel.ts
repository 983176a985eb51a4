/**
 * The gradient all-reduce of data-parallel training. WebGPU's only route between a GPU and
 * anything else is through host memory, so each bucket of gradients is gathered into one
 * workspace buffer on the GPU (buffer copies), read back, summed over the ranks on the host
 * (`Collectives.allReduce`) and written back into the gradients. Buckets are the parameters in
 * backward order (the last layer's first), up to `bucketBytes` each; every bucket's read is
 * issued at once, so the reduction of one overlaps the read-back of the next and the write-back
 * of the one before.
 *
 * The ranks scale their losses by 1 / (ranks x micro-batches), so the sum is the mean gradient
 * of the global batch. A few host values (the step's loss) ride along in the last bucket.
 * @module
 */
import type { Allocator } from "../allocator.ts";
import type { Collectives } from "../collectives/collectives.ts";
import type { Encoder } from "../encoder.ts";
import { TempoError } from "../errors.ts";
import type { Tensor } from "../tensor.ts";

/** PyTorch DDP's default bucket: 25 MiB. */
export const DEFAULT_BUCKET_BYTES = 25 << 20;

/** One bucket: gradients laid end to end. */
interface Bucket {
  /** The gradients and their element offsets in the bucket. */
  parts: { grad: Tensor; at: number }[];
  /** Elements of the gradients (the extras come after, in the last bucket). */
  size: number;
}

/** Split `grads` (backward order) into buckets of at most `bucketBytes` (or one gradient). */
export function planBuckets(grads: readonly Tensor[], bucketBytes: number): Bucket[] {
  const buckets: Bucket[] = [];
  let cur: Bucket | null = null;
  for (const grad of grads) {
    if (grad.dtype !== "f32") {
      throw new TempoError(
        `data-parallel training reduces f32 gradients; ${grad} is ${grad.dtype}`,
        "train with f32 gradients when running several ranks",
      );
    }
    if (!cur || (cur.size > 0 && 4 * (cur.size + grad.size) > bucketBytes)) {
      cur = { parts: [], size: 0 };
      buckets.push(cur);
    }
    cur.parts.push({ grad, at: cur.size });
    cur.size += grad.size;
  }
  return buckets;
}

/** Where the reductions' time went, summed over the steps so far (milliseconds). */
export interface ReduceStats {
  /** Steps reduced. */
  steps: number;
  /** Bytes of gradients per step. */
  bytes: number;
  /** Waiting for the first bucket's read-back: the GPU finishing backward (not communication). */
  gpuMs: number;
  /** From the first bucket's arrival to the last bucket written back: what the step waits for. */
  tailMs: number;
  /** Inside MPI calls (part of tailMs, overlapping the later buckets' read-backs). */
  mpiMs: number;
}

/** Sums gradients over the ranks, bucket by bucket. */
export class GradientReducer {
  readonly buckets: Bucket[];
  /** Time spent so far, by phase. */
  readonly stats: ReduceStats;
  /** Elements of the largest bucket (the GPU gather buffer's size). */
  readonly maxBucket: number;

  /**
   * @param grads the model's gradients in backward order
   * @param bucketBytes the most bytes of gradients per bucket
   */
  constructor(
    readonly comm: Collectives,
    grads: readonly Tensor[],
    bucketBytes = DEFAULT_BUCKET_BYTES,
  ) {
    this.buckets = planBuckets(grads, bucketBytes);
    this.maxBucket = Math.max(1, ...this.buckets.map((b) => b.size));
    const bytes = 4 * this.buckets.reduce((n, b) => n + b.size, 0);
    this.stats = { steps: 0, bytes, gpuMs: 0, tailMs: 0, mpiMs: 0 };
  }

  /**
   * Sum every gradient over the ranks, and `extras` (host values, summed in place with the last
   * bucket), once the GPU has produced them. `extras` may be a promise (values read back from
   * the GPU). `what` names the step in a timeout message. Resolves when every reduced gradient
   * has been written back (queue writes: later dispatches see them).
   */
  async reduce(
    enc: Encoder,
    alloc: Allocator,
    extras: Float32Array | Promise<Float32Array>,
    what: string,
  ): Promise<Float32Array> {
    const last = this.buckets.length - 1;
    // [maxBucket (+ extras)] f32: one bucket's gradients end to end, on the GPU.
    const gather = alloc.alloc([this.maxBucket], "f32", "workspace", "allreduce.bucket");
    try {
      const reads = this.buckets.map((b) => {
        for (const p of b.parts) enc.copy(p.grad, gather, p.grad.bytes, 0, 4 * p.at);
        return enc.read(gather, 4 * b.size);
      });
      let out = new Float32Array(0);
      const t0 = performance.now();
      let t1 = t0;
      for (const [i, b] of this.buckets.entries()) {
        const grads = new Float32Array(await reads[i]);
        if (i === 0) t1 = performance.now();
        let host = grads;
        if (i === last) {
          const x = await extras;
          host = new Float32Array(b.size + x.length);
          host.set(grads);
          host.set(x, b.size);
        }
        const m0 = performance.now();
        await this.comm.allReduce(
          host,
          "sum",
          `${what}, bucket ${i + 1} of ${this.buckets.length}`,
        );
        this.stats.mpiMs += performance.now() - m0;
        enc.write(gather, host.subarray(0, b.size));
        for (const p of b.parts) enc.copy(gather, p.grad, p.grad.bytes, 4 * p.at, 0);
        if (i === last) out = host.slice(b.size);
      }
      this.stats.steps++;
      this.stats.gpuMs += t1 - t0;
      this.stats.tailMs += performance.now() - t1;
      return out;
    } finally {
      alloc.release(gather);
    }
  }
}

/**
 * Make `tensors` (f32) on every rank equal to rank 0's: each is read back, broadcast and
 * written back. Returns how many tensors differed from rank 0's, summed over the ranks (0 when
 * seeded initialisation or a shared checkpoint already made them equal).
 */
export async function broadcastFromRoot(
  comm: Collectives,
  enc: Encoder,
  tensors: readonly Tensor[],
  what: string,
): Promise<number> {
  let differ = 0;
  for (const t of tensors) {
    const mine = new Uint8Array(await enc.read(t));
    const root = mine.slice();
    await comm.broadcast(root, 0, `${what} (${t.label})`);
    let same = true;
    for (let i = 0; i < mine.length && same; i++) same = mine[i] === root[i];
    if (!same) {
      differ++;
      enc.write(t, root);
    }
  }
  const total = new Float64Array([differ]);
  await comm.allReduce(total, "sum", `${what} (the count of tensors that differed)`);
  return total[0];
}

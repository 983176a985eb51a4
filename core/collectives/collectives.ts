/**
 * The collective operations data-parallel training needs, over host buffers: every rank is one
 * process with one GPU; gradients come back from the GPU, are reduced here, and go back. Two
 * implementations: `SingleProcess` (one rank, every operation a no-op) and `MpiCollectives`
 * (MPI over Deno's FFI, `mpi.ts`). `openCollectives` (`open.ts`) picks one from the launcher's
 * environment.
 *
 * Every operation is a collective: every rank calls it, in the same order, with buffers of the
 * same length. An operation that does not complete within the implementation's timeout (a peer
 * died or hangs) aborts the whole job with a message instead of waiting forever.
 * @module
 */

/** How `allReduce` combines the ranks' buffers, element by element. */
export type ReduceOp = "sum" | "mean" | "max" | "min";

/** Collective operations over the ranks of one job. */
export interface Collectives {
  /** This process's rank in [0, size). */
  readonly rank: number;
  /** Number of ranks. */
  readonly size: number;
  /** Rank among the ranks on this machine (picks a GPU of several), in [0, localSize). */
  readonly localRank: number;
  /** One line for a run header, e.g. "Open MPI v4.1.4 (libmpi.so.40), 2 ranks (mpirun)". */
  readonly description: string;
  /**
   * Combine `data` of every rank in place (every rank gets the same result). `what` names the
   * operation in a timeout message (e.g. "gradients of step 12, bucket 2 of 3").
   */
  allReduce(data: Float32Array | Float64Array, op: ReduceOp, what: string): Promise<void>;
  /** Copy `data` of rank `root` into every other rank's `data`. */
  broadcast(data: Uint8Array | Float32Array, root: number, what: string): Promise<void>;
  /** Wait until every rank has called it. */
  barrier(what: string): Promise<void>;
  /**
   * Stop the whole job now: print `message` (naming this rank) and make every rank exit with
   * `code` (MPI_Abort). Never returns.
   */
  abort(message: string, code?: number): Promise<never>;
  /** End the collective session (after a last barrier). Later operations throw. */
  finalize(): Promise<void>;
}

/** One process, rank 0 of 1: reductions and broadcasts leave the data as it is. */
export class SingleProcess implements Collectives {
  readonly rank = 0;
  readonly size = 1;
  readonly localRank = 0;
  readonly description = "single process";

  allReduce(): Promise<void> {
    return Promise.resolve();
  }

  broadcast(): Promise<void> {
    return Promise.resolve();
  }

  barrier(): Promise<void> {
    return Promise.resolve();
  }

  abort(message: string, code = 1): Promise<never> {
    console.error(`tempo: ${message}`);
    Deno.exit(code);
  }

  finalize(): Promise<void> {
    return Promise.resolve();
  }
}

/** "rank 1 of 4" or "" for a single process (a prefix for messages). */
export function rankLabel(c: Pick<Collectives, "rank" | "size">): string {
  return c.size > 1 ? `rank ${c.rank} of ${c.size}` : "";
}

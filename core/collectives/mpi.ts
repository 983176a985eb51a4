/**
 * Collectives over MPI (`mpi_lib.ts` binds the library). MPI calls that wait for other ranks run
 * on a worker thread (Deno FFI's `nonblocking`), so the event loop keeps running beside them: a
 * timer bounds each wait (a peer that died or hangs aborts the job with a message instead of
 * blocking every rank forever), and signals are still heard. The library is initialised with
 * MPI_THREAD_MULTIPLE (calls come from worker threads, and an abort may be issued while a call
 * waits); calls are still issued one at a time, in program order, which is all MPI_THREAD_SERIALIZED
 * would need.
 *
 * A process that exits while the session is open (an error, a second Ctrl-C, an uncaught
 * exception that ends in Deno.exit) calls MPI_Abort on its way out, so that the other ranks stop
 * too. Launchers also stop a job whose rank was killed: Open MPI's mpirun at once, Slurm's srun
 * with --kill-on-bad-exit; the timeout covers the rest.
 * @module
 */
import { TempoError } from "../errors.ts";
import type { Collectives, ReduceOp } from "./collectives.ts";
import type { LaunchInfo } from "./launcher.ts";
import {
  MPI_THREAD_MULTIPLE,
  MPI_THREAD_SERIALIZED,
  type MpiApi,
  type MpiType,
  openMpiLibrary,
} from "./mpi_lib.ts";

/** Elements per MPI call (counts are C ints; buffers beyond are sent in parts). */
const MAX_COUNT = 1 << 30;

/** Settings of an MPI session. */
export interface MpiOptions {
  /** The library to load (TEMPO_MPI_LIB); default the first known soname that loads. */
  library?: string;
  /** Abort the job when one collective waits longer than this (ms). */
  timeoutMs: number;
}

/** Collectives over MPI_COMM_WORLD. Create with `MpiCollectives.start`. */
export class MpiCollectives implements Collectives {
  readonly localRank: number;
  readonly description: string;
  #queue: Promise<unknown> = Promise.resolve();
  #open = true;
  #aborting = false;
  readonly #onUnload: () => void;

  private constructor(
    readonly rank: number,
    readonly size: number,
    launch: LaunchInfo,
    readonly api: MpiApi,
    readonly timeoutMs: number,
  ) {
    this.localRank = launch.localRank;
    const lib = api.path.split("/").at(-1);
    this.description = `${api.version.split(",")[0]} (${lib}), ${size} ranks, ${launch.launcher}`;
    this.#onUnload = () => {
      if (!this.#open || this.#aborting) return;
      // Leaving with the session open: an error, a second signal. The others must not wait.
      const code = Deno.exitCode || 1;
      this.#aborting = true;
      console.error(
        `tempo: rank ${rank} of ${size} exits (code ${code}) before the run's end; ` +
          "aborting the job (MPI_Abort) so that the other ranks stop too",
      );
      api.abortNow(code);
    };
    globalThis.addEventListener("unload", this.#onUnload);
  }

  /**
   * Load the library, initialise MPI and check that it sees the rank and size the launcher set.
   * Throws a TempoError (one line and a hint) for a missing library or a mismatch.
   */
  static start(launch: LaunchInfo, options: MpiOptions): MpiCollectives {
    const api = openMpiLibrary({ explicit: options.library, family: launch.family });
    if (api.initialized()) throw new TempoError("MPI is already initialised in this process");
    const provided = api.initThread(MPI_THREAD_MULTIPLE);
    if (provided < MPI_THREAD_SERIALIZED) {
      api.abortNow(1);
      throw new TempoError(
        `${api.version} gives thread level ${provided}; tempo calls MPI from worker threads`,
        "use an MPI library built with thread support (MPI_THREAD_MULTIPLE)",
      );
    }
    const { rank, size } = api.rankAndSize();
    if (rank !== launch.rank || size !== launch.size) {
      const message = `${api.path} (${api.version.split(",")[0]}) sees rank ${rank} of ${size}`;
      const hint = "the MPI library is not the launcher's: launch with the mpirun/mpiexec of " +
        "the library (or srun --mpi=pmix with a PMIx-enabled MPI), or set TEMPO_MPI_LIB to it";
      // Each process may have become its own world of one: end it quietly, then say why.
      api.finalize();
      throw new TempoError(message, hint);
    }
    return new MpiCollectives(rank, size, launch, api, options.timeoutMs);
  }

  /** Run `call` after every earlier call, bounded by the timeout; a non-zero code throws. */
  #serial(what: string, call: () => Promise<number>): Promise<void> {
    const run = async () => {
      if (!this.#open) throw new Error(`MPI ${what}: the session is finalized`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new CollectiveTimeout()), this.timeoutMs);
      });
      try {
        const rc = await Promise.race([call(), late]);
        if (rc !== 0) throw new TempoError(`MPI ${what} failed (error ${rc})`);
      } catch (e) {
        if (!(e instanceof CollectiveTimeout)) throw e;
        return await this.abort(
          `no answer from the other ranks within ${this.timeoutMs / 1000} s in ${what}: a rank ` +
            "has died or hangs (--collective-timeout sets the wait)",
          1,
        );
      } finally {
        clearTimeout(timer);
      }
    };
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Calls over `data` in parts of at most MAX_COUNT elements. */
  #parts(
    what: string,
    data: Float32Array | Float64Array | Uint8Array,
    call: (part: typeof data, count: number) => Promise<number>,
  ): Promise<void> {
    const jobs: Promise<void>[] = [];
    for (let at = 0; at < data.length; at += MAX_COUNT) {
      const part = data.subarray(at, Math.min(data.length, at + MAX_COUNT));
      jobs.push(this.#serial(what, () => call(part, part.length)));
    }
    return Promise.all(jobs).then(() => {});
  }

  async allReduce(data: Float32Array | Float64Array, op: ReduceOp, what: string): Promise<void> {
    const type: MpiType = data instanceof Float64Array ? "double" : "float";
    const mpiOp = op === "mean" ? "sum" : op;
    await this.#parts(what, data, (part, n) => this.api.allReduce(part, n, type, mpiOp));
    if (op === "mean") {
      const k = 1 / this.size;
      for (let i = 0; i < data.length; i++) data[i] *= k;
    }
  }

  broadcast(data: Uint8Array | Float32Array, root: number, what: string): Promise<void> {
    const type: MpiType = data instanceof Float32Array ? "float" : "byte";
    return this.#parts(what, data, (part, n) => this.api.broadcast(part, n, type, root));
  }

  barrier(what: string): Promise<void> {
    return this.#serial(what, () => this.api.barrier());
  }

  async abort(message: string, code = 1): Promise<never> {
    if (!this.#aborting) {
      this.#aborting = true;
      console.error(
        `tempo: rank ${this.rank} of ${this.size}: ${message}; aborting the job (MPI_Abort)`,
      );
      // MPI_Abort does not return when it works; if it hangs (the launcher is gone), exit anyway.
      setTimeout(() => Deno.exit(code), 10_000);
      await this.api.abort(code);
    }
    Deno.exit(code);
  }

  async finalize(): Promise<void> {
    if (!this.#open) return;
    await this.barrier("the final barrier");
    this.#open = false;
    globalThis.removeEventListener("unload", this.#onUnload);
    this.api.finalize();
  }
}

class CollectiveTimeout extends Error {}

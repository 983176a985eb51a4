/**
 * The collectives of this process: a single process unless a launcher (mpirun, mpiexec, srun)
 * says it is one of several ranks, and then MPI. Nothing about MPI is loaded or needed for a
 * single process.
 * @module
 */
import { TempoError } from "../errors.ts";
import { type Collectives, SingleProcess } from "./collectives.ts";
import { detectLaunch, type EnvGetter, processEnv } from "./launcher.ts";
import { MpiCollectives } from "./mpi.ts";

/** Default bound of one collective's wait: 10 minutes (a checkpoint of rank 0 fits in it). */
export const DEFAULT_COLLECTIVE_TIMEOUT_S = 600;

/** How to open the collectives. */
export interface OpenOptions {
  /** Environment to read (tests); default the process's. */
  env?: EnvGetter;
  /** Bound of one collective's wait, seconds; default DEFAULT_COLLECTIVE_TIMEOUT_S. */
  timeoutS?: number;
}

/**
 * A single process when no launcher variables are set (or the launcher started one rank), else
 * MPI with the launcher's rank and size (the library from TEMPO_MPI_LIB or the usual sonames).
 * Throws a TempoError in one line when MPI cannot start, naming the rank and what to install.
 */
export function openCollectives(options: OpenOptions = {}): Collectives {
  const env = options.env ?? processEnv;
  const launch = detectLaunch(env);
  if (!launch || launch.size === 1) return new SingleProcess();
  const timeoutS = options.timeoutS ?? DEFAULT_COLLECTIVE_TIMEOUT_S;
  try {
    return MpiCollectives.start(launch, {
      library: env("TEMPO_MPI_LIB") || undefined,
      timeoutMs: timeoutS * 1000,
    });
  } catch (e) {
    if (!(e instanceof TempoError)) throw e;
    throw new TempoError(
      `rank ${launch.rank} of ${launch.size} (${launch.launcher}: ${launch.vars}): ` +
        e.message.split("\n")[0],
      e.hint,
      e,
    );
  }
}

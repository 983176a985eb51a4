/**
 * Which rank of how many this process is, as the launcher says, read before MPI is initialised:
 * Open MPI's mpirun (OMPI_COMM_WORLD_*), MPICH's Hydra mpiexec (PMI_RANK, PMI_SIZE,
 * MPI_LOCALRANKID) and Slurm's srun (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, in a job step:
 * SLURM_STEP_ID). mpirun inside a Slurm allocation sets both its own variables and the
 * allocation's, so Open MPI's and Hydra's are read first. After MPI_Init the MPI library's own
 * rank and size are checked against these (`mpi.ts`).
 * @module
 */
import { TempoError } from "../errors.ts";

/** Where a process's rank and world size came from. */
export interface LaunchInfo {
  /** This process's rank. */
  rank: number;
  /** Number of ranks. */
  size: number;
  /** Rank on this machine (0 when the launcher does not say). */
  localRank: number;
  /** The launcher, e.g. "mpirun (Open MPI)". */
  launcher: string;
  /** The variables read, e.g. "OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=2". */
  vars: string;
  /** The MPI family the launcher belongs to, when it belongs to one (srun serves both). */
  family?: "openmpi" | "mpich";
}

/** Reads an environment variable (undefined when unset or not readable). */
export type EnvGetter = (name: string) => string | undefined;

/** The process environment, undefined where Deno's permissions do not allow reading it. */
export const processEnv: EnvGetter = (name) => {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
};

interface Scheme {
  launcher: string;
  family?: "openmpi" | "mpich";
  rank: string;
  size: string;
  local: string;
  /** Another variable that must be set for the scheme to apply. */
  also?: string;
}

/** In order of precedence. */
const SCHEMES: readonly Scheme[] = [
  {
    launcher: "mpirun (Open MPI)",
    family: "openmpi",
    rank: "OMPI_COMM_WORLD_RANK",
    size: "OMPI_COMM_WORLD_SIZE",
    local: "OMPI_COMM_WORLD_LOCAL_RANK",
  },
  {
    launcher: "mpiexec (MPICH Hydra)",
    family: "mpich",
    rank: "PMI_RANK",
    size: "PMI_SIZE",
    local: "MPI_LOCALRANKID",
  },
  // An sbatch script has SLURM_PROCID and SLURM_NTASKS too, but is no job step: only srun's
  // tasks (SLURM_STEP_ID set) are ranks.
  {
    launcher: "srun (Slurm)",
    rank: "SLURM_PROCID",
    size: "SLURM_NTASKS",
    local: "SLURM_LOCALID",
    also: "SLURM_STEP_ID",
  },
];

function int(name: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) {
    throw new TempoError(
      `the launcher set ${name}=${v}, which is not a rank or a count`,
      "start tempo with mpirun, mpiexec or srun, or unset the variable for a single process",
    );
  }
  return n;
}

/**
 * The launcher's rank and size, or null when no launcher variables are set (a single process).
 * Throws a TempoError for values that cannot be (a rank outside the size).
 */
export function detectLaunch(env: EnvGetter = processEnv): LaunchInfo | null {
  for (const s of SCHEMES) {
    const rank = env(s.rank), size = env(s.size);
    if (rank === undefined || size === undefined || (s.also && env(s.also) === undefined)) continue;
    const r = int(s.rank, rank), n = int(s.size, size);
    const local = env(s.local);
    const info: LaunchInfo = {
      rank: r,
      size: n,
      localRank: local === undefined ? 0 : int(s.local, local),
      launcher: s.launcher,
      vars: `${s.rank}=${rank} ${s.size}=${size}`,
    };
    if (s.family) info.family = s.family;
    if (!(n >= 1 && r < n)) {
      throw new TempoError(
        `${info.launcher} says rank ${r} of ${n} (${info.vars}), which cannot be`,
        "start tempo with mpirun, mpiexec or srun, or unset the variables for a single process",
      );
    }
    return info;
  }
  return null;
}

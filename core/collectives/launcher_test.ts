import { TempoError } from "../errors.ts";
import { detectLaunch } from "./launcher.ts";
import { openCollectives } from "./open.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("detectLaunch: Open MPI, Hydra and srun variables; mpirun's win inside Slurm", () => {
  assert(detectLaunch(env({})) === null, "no launcher");
  const ompi = detectLaunch(env({
    OMPI_COMM_WORLD_RANK: "1",
    OMPI_COMM_WORLD_SIZE: "4",
    OMPI_COMM_WORLD_LOCAL_RANK: "1",
    SLURM_PROCID: "0",
    SLURM_NTASKS: "1",
    SLURM_STEP_ID: "0",
  }))!;
  assert(ompi.rank === 1 && ompi.size === 4 && ompi.localRank === 1, JSON.stringify(ompi));
  assert(ompi.family === "openmpi" && ompi.launcher === "mpirun (Open MPI)", ompi.launcher);
  const hydra = detectLaunch(env({ PMI_RANK: "2", PMI_SIZE: "3", MPI_LOCALRANKID: "0" }))!;
  assert(hydra.rank === 2 && hydra.size === 3 && hydra.family === "mpich", JSON.stringify(hydra));
  const srun = detectLaunch(env({
    SLURM_PROCID: "5",
    SLURM_NTASKS: "8",
    SLURM_LOCALID: "1",
    SLURM_STEP_ID: "0",
  }))!;
  assert(
    srun.rank === 5 && srun.localRank === 1 && srun.family === undefined,
    JSON.stringify(srun),
  );
  // An sbatch script (no job step) is a single process, not rank 0 of the allocation's tasks.
  assert(detectLaunch(env({ SLURM_PROCID: "0", SLURM_NTASKS: "8" })) === null, "sbatch script");
});

Deno.test("detectLaunch: values that cannot be a rank are one TempoError naming them", () => {
  for (const bad of [{ PMI_RANK: "x", PMI_SIZE: "2" }, { PMI_RANK: "2", PMI_SIZE: "2" }]) {
    let message = "";
    try {
      detectLaunch(env(bad));
    } catch (e) {
      assert(e instanceof TempoError, String(e));
      message = e.message;
    }
    assert(message.includes("PMI_RANK"), `${JSON.stringify(bad)}: '${message}'`);
  }
});

Deno.test("openCollectives: a single process without a launcher, or with a world of one", () => {
  assert(openCollectives({ env: env({}) }).size === 1, "no launcher");
  const one = openCollectives({ env: env({ PMI_RANK: "0", PMI_SIZE: "1" }) });
  assert(one.size === 1 && one.rank === 0 && one.description === "single process", "np 1");
});

/**
 * Test helpers for MPI: find the system's mpirun (Open MPI's or MPICH's Hydra) and an MPI
 * library a child Deno can load (`openMpiLibrary`, asked in a child: the test task has no
 * --allow-ffi), or say in one line why the MPI tests are skipped.
 * @module
 */

/** How to start N ranks of a command. */
export interface MpiRun {
  /** "Open MPI" or "MPICH". */
  flavor: string;
  /** The library a rank loads (soname or TEMPO_MPI_LIB). */
  library: string;
  /** `mpirun` and its options for `np` ranks; append the command (and `: -np 1 cmd` for more). */
  launch(np: number): string[];
  /** Environment for mpirun (Open MPI refuses root without its two variables). */
  env: Record<string, string>;
}

async function output(cmd: string, args: string[]): Promise<string | null> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    return new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  } catch {
    return null;
  }
}

let found: Promise<MpiRun | string> | null = null;

/**
 * The system's mpirun, or the reason the MPI tests skip (printed once per test process). Ranks
 * run with `--bind-to none`: the software adapter computes on the CPUs, and a rank bound to one
 * core crawls (core/device_select.ts).
 */
export function findMpi(): Promise<MpiRun | string> {
  return found ??= (async () => {
    const install = "apt-get install openmpi-bin libopenmpi-dev; .ci/run installs them";
    const version = await output("mpirun", ["--version"]);
    let reason: string | null = null;
    let library = "";
    if (version === null) reason = `mpirun not found (${install})`;
    else {
      try {
        let explicit: string | undefined;
        try {
          explicit = Deno.env.get("TEMPO_MPI_LIB") || undefined;
        } catch {
          explicit = undefined;
        }
        // Deno.dlopen needs --allow-ffi, which the test task has not: ask a child instead.
        library = explicit ?? (await childLibrary()) ?? "";
        if (!library) reason = `no MPI library loads (${install})`;
      } catch (e) {
        reason = (e as Error).message.split("\n")[0];
      }
    }
    if (reason) {
      // Each test file has its own module realm: the process environment says it once.
      try {
        if (!Deno.env.get("TEMPO_MPI_SKIP_SAID")) {
          Deno.env.set("TEMPO_MPI_SKIP_SAID", "1");
          console.log(`MPI tests skipped: ${reason}`);
        }
      } catch {
        console.log(`MPI tests skipped: ${reason}`);
      }
      return reason;
    }
    const openmpi = /Open MPI|OpenRTE/.test(version!);
    const env: Record<string, string> = openmpi
      ? { OMPI_ALLOW_RUN_AS_ROOT: "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1" }
      : {};
    const common = openmpi ? ["--bind-to", "none", "--oversubscribe"] : ["-bind-to", "none"];
    return {
      flavor: openmpi ? "Open MPI" : "MPICH",
      library,
      env,
      launch: (np: number) => ["mpirun", ...common, "-np", String(np)],
    };
  })();
}

/** The library a child Deno with --allow-ffi finds, or null. */
async function childLibrary(): Promise<string | null> {
  const url = new URL("./mpi_lib.ts", import.meta.url).href;
  const code = `import { openMpiLibrary } from "${url}"; console.log(openMpiLibrary().path);`;
  const out = await output(Deno.execPath(), ["eval", "--allow-ffi", "--allow-env", code]);
  const path = out?.trim().split("\n").at(-1) ?? "";
  return /^lib|^\//.test(path) && !/error/i.test(out ?? "") ? path : null;
}

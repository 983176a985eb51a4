// MPI through the system's mpirun: the probe's collectives give what they must, and a rank that
// stops answering or leaves early stops the job (bounded: the timeout, or the launcher's abort).
import { findMpi } from "./testing.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

const mpi = await findMpi();
const skip = typeof mpi === "string";
const PROBE = new URL("./mpi_probe.ts", import.meta.url).pathname;

/** Run the probe on 2 ranks; returns the exit code, the output and the wall time. */
async function probe(...flags: string[]) {
  if (typeof mpi === "string") throw new Error(mpi);
  const [cmd, ...args] = mpi.launch(2);
  const t0 = performance.now();
  const r = await new Deno.Command(cmd, {
    args: [...args, Deno.execPath(), "run", "--allow-ffi", "--allow-env", PROBE, ...flags],
    env: { ...mpi.env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  return { code: r.code, out, seconds: (performance.now() - t0) / 1000 };
}

Deno.test(
  { name: "MPI: sum, mean, max, broadcast and barrier over 2 ranks", ignore: skip },
  async () => {
    const r = await probe();
    assert(r.code === 0, `exit ${r.code}:\n${r.out}`);
    const lines = r.out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    assert(lines.length === 2, `two ranks report:\n${r.out}`);
    assert(new Set(lines.map((l) => l.rank)).size === 2, "ranks 0 and 1");
    for (const l of lines) {
      assert(l.size === 2 && l.sumOk && l.meanOk && l.maxOk && l.bcastOk, JSON.stringify(l));
    }
  },
);

Deno.test({
  name: "MPI: a rank that stops answering aborts the job after the collective timeout",
  ignore: skip,
}, async () => {
  const r = await probe("--hang", "1", "--timeout", "2");
  assert(r.code !== 0, `the job must fail:\n${r.out}`);
  assert(/rank 0 of 2: no answer from the other ranks within 2 s/.test(r.out), r.out);
  // 2 s of timeout plus the ranks' start (about 1 s here); bounded well below a minute.
  assert(r.seconds < 30, `took ${r.seconds.toFixed(1)} s`);
});

Deno.test({
  name: "MPI: a rank that exits early (an error) aborts the job instead of leaving it waiting",
  ignore: skip,
}, async () => {
  const r = await probe("--exit", "1", "--timeout", "600");
  assert(r.code !== 0, `the job must fail:\n${r.out}`);
  assert(/rank 1 of 2 exits \(code 3\) before the run's end; aborting the job/.test(r.out), r.out);
  assert(r.seconds < 30, `took ${r.seconds.toFixed(1)} s (the timeout was 600 s)`);
});

/**
 * A check of the MPI setup, and the program the collectives' tests run under mpirun:
 *
 *     mpirun -np 2 deno run --allow-ffi --allow-env core/collectives/mpi_probe.ts
 *
 * Every rank prints one JSON line: its rank, the library, and whether a sum, a mean, a max, a
 * broadcast and a barrier gave what
 * they must. `--hang R` makes rank R stop answering after the first collective and `--exit R`
 * makes it exit with code 3 there (both test that the others stop); `--timeout S` bounds a
 * collective's wait.
 * @module
 */
import { openCollectives } from "./open.ts";

function flag(name: string): number | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : undefined;
}

const comm = openCollectives({ timeoutS: flag("--timeout") });
const { rank, size } = comm;
const n = 3_000_001; // odd, and 12 MB: a real gradient bucket's size
const x = new Float32Array(n);
for (let i = 0; i < n; i++) x[i] = rank + 1 + (i % 7);
const t0 = performance.now();
await comm.allReduce(x, "sum", "the probe's sum");
const sumMs = performance.now() - t0;
const want = (i: number) => (size * (size + 1)) / 2 + size * (i % 7);
let sumOk = true;
for (let i = 0; i < n; i++) if (x[i] !== want(i)) sumOk = false;

if (flag("--hang") === rank) {
  console.error(`probe: rank ${rank} stops answering (pid ${Deno.pid})`);
  setInterval(() => {}, 1000);
  await new Promise(() => {});
}
if (flag("--exit") === rank) {
  console.error(`probe: rank ${rank} exits with code 3`);
  Deno.exit(3);
}

const m = new Float64Array([rank, 1]);
await comm.allReduce(m, "mean", "the probe's mean");
const meanOk = m[0] === (size - 1) / 2 && m[1] === 1;
const mx = new Float32Array([rank, -rank]);
await comm.allReduce(mx, "max", "the probe's max");
const maxOk = mx[0] === size - 1 && mx[1] === 0;
const b = new Uint8Array(1000).fill(rank === 0 ? 7 : 0);
await comm.broadcast(b, 0, "the probe's broadcast");
const bcastOk = b.every((v) => v === 7);
await comm.barrier("the probe's barrier");
console.log(JSON.stringify({
  rank,
  size,
  localRank: comm.localRank,
  description: comm.description,
  sumOk,
  meanOk,
  maxOk,
  bcastOk,
  sumMs: Math.round(sumMs),
}));
await comm.finalize();

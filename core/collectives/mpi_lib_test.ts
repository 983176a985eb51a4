// The two ABIs' constants against the libraries' own headers and symbol tables, where installed.
import { MPICH_HANDLES, mpiSonames } from "./mpi_lib.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

async function readOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

Deno.test("mpiSonames: the launcher's family first, then the other, then the symlinks", () => {
  const mpich = mpiSonames("mpich"), ompi = mpiSonames("openmpi");
  assert(mpich[0] === "libmpich.so.12" && ompi[0] === "libmpi.so.40", `${mpich[0]} ${ompi[0]}`);
  assert(mpich.indexOf("libmpi.so.40") < mpich.indexOf("libmpi.so"), "symlinks last");
  assert(JSON.stringify(mpiSonames()) === JSON.stringify(ompi), "Open MPI first by default");
});

const MPICH_H = [
  "/usr/include/x86_64-linux-gnu/mpich/mpi.h",
  "/usr/include/aarch64-linux-gnu/mpich/mpi.h",
  "/usr/include/mpich/mpi.h",
];

Deno.test("MPICH's handles are those of its mpi.h (where MPICH is installed)", async () => {
  let header: string | null = null;
  for (const p of MPICH_H) header ??= await readOrNull(p);
  if (header === null) {
    console.log("MPICH's mpi.h not installed: its handles checked against MPICH 4.0.2's by hand");
    return;
  }
  const names: Record<keyof typeof MPICH_HANDLES, string> = {
    commWorld: "MPI_COMM_WORLD",
    float: "MPI_FLOAT",
    double: "MPI_DOUBLE",
    byte: "MPI_BYTE",
    sum: "MPI_SUM",
    max: "MPI_MAX",
    min: "MPI_MIN",
  };
  for (const [key, name] of Object.entries(names)) {
    const m = new RegExp(`#define ${name}\\s+\\(?\\(MPI_\\w+\\)\\s*\\(?(0x[0-9a-f]+)`, "i")
      .exec(header);
    assert(m, `${name} not found in mpi.h`);
    const want = MPICH_HANDLES[key as keyof typeof MPICH_HANDLES];
    assert(Number(m[1]) === want, `${name}: mpi.h ${m[1]}, tempo 0x${want.toString(16)}`);
  }
  assert(/#define MPI_IN_PLACE\s+\(void \*\) -1/.test(header), "MPICH's MPI_IN_PLACE is -1");
});

Deno.test("Open MPI's library exports the objects tempo takes handles from (where installed)", async () => {
  let lib: Uint8Array | null = null;
  for (const dir of ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64"]) {
    try {
      lib ??= await Deno.readFile(`${dir}/libmpi.so.40`);
    } catch {
      // not here
    }
  }
  if (lib === null) {
    console.log("Open MPI's libmpi.so.40 not installed: its symbols not checked");
    return;
  }
  const text = new TextDecoder("latin1").decode(lib);
  for (const sym of ["comm_world", "float", "double", "byte", "op_sum", "op_max", "op_min"]) {
    assert(text.includes(`\0ompi_mpi_${sym}\0`), `libmpi.so.40 lacks ompi_mpi_${sym}`);
  }
});

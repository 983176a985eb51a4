/**
 * The system's MPI library through Deno's FFI, for the two binary interfaces in use:
 *
 * - Open MPI (`libmpi.so.40`): handles are pointers. MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ... are
 *   the addresses of global objects (`ompi_mpi_comm_world`, `ompi_mpi_float`, `ompi_mpi_op_sum`),
 *   MPI_IN_PLACE is `(void *) 1`.
 * - MPICH and the libraries built on its ABI (Intel MPI, MVAPICH, Cray MPICH; `libmpich.so.12`,
 *   `libmpi.so.12`): handles are `int` constants of its mpi.h (checked against MPICH 4.0.2's),
 *   MPI_IN_PLACE is `(void *) -1`.
 *
 * Which one a library is, is read from the library itself: Open MPI exports `ompi_mpi_comm_world`;
 * otherwise `MPI_Get_library_version` must name MPICH or an MPICH-ABI library. The library is
 * `TEMPO_MPI_LIB` when set, else the first of `mpiSonames()` the dynamic loader finds.
 * @module
 */
import { TempoError } from "../errors.ts";
import type { ReduceOp } from "./collectives.ts";

/** Sonames of Open MPI (3, 4, 5; Linux, then macOS). */
export const OPENMPI_SONAMES = ["libmpi.so.40", "libmpi.40.dylib"] as const;
/** Sonames of MPICH (3, 4) and of the MPICH-ABI libraries (Intel MPI, MVAPICH). */
export const MPICH_SONAMES = ["libmpich.so.12", "libmpi.so.12", "libmpich.12.dylib"] as const;
/** The development symlinks, which may be either. */
export const GENERIC_SONAMES = ["libmpi.so", "libmpich.so", "libmpi.dylib"] as const;

/**
 * Sonames tried in order when TEMPO_MPI_LIB is not set: the launcher's family first (Hydra's
 * ranks must not load Open MPI where both are installed), then the other, then the symlinks.
 */
export function mpiSonames(family?: MpiAbi): string[] {
  const first = family === "mpich" ? MPICH_SONAMES : OPENMPI_SONAMES;
  const second = family === "mpich" ? OPENMPI_SONAMES : MPICH_SONAMES;
  return [...first, ...second, ...GENERIC_SONAMES];
}

/** What to install when there is no MPI library. */
export const MPI_INSTALL_HINT =
  "install MPI (Debian/Ubuntu: `apt-get install openmpi-bin libopenmpi-dev`; MPICH works too), " +
  "or set TEMPO_MPI_LIB to the path of libmpi.so";

/** The two binary interfaces. */
export type MpiAbi = "openmpi" | "mpich";

/** MPI_THREAD_SERIALIZED and MPI_THREAD_MULTIPLE (0..3 in both mpi.h files). */
export const MPI_THREAD_SERIALIZED = 2;
export const MPI_THREAD_MULTIPLE = 3;

/** Element types the collectives move. */
export type MpiType = "float" | "double" | "byte";

/**
 * MPICH's handles (mpich/mpi.h, 4.0.2: `#define MPI_COMM_WORLD ((MPI_Comm)0x44000000)`, ...).
 */
export const MPICH_HANDLES = {
  commWorld: 0x44000000,
  float: 0x4c00040a,
  double: 0x4c00080b,
  byte: 0x4c00010d,
  sum: 0x58000003,
  max: 0x58000001,
  min: 0x58000002,
} as const;

/** The functions tempo calls, with handles already bound to the library's ABI. */
export interface MpiApi {
  /** Which interface. */
  readonly abi: MpiAbi;
  /** The path or soname that was opened. */
  readonly path: string;
  /** `MPI_Get_library_version`, first line. */
  readonly version: string;
  /** MPI_Initialized. */
  initialized(): boolean;
  /** MPI_Init_thread(NULL, NULL, required, &provided); returns provided. Main thread. */
  initThread(required: number): number;
  /** MPI_Comm_rank and MPI_Comm_size of MPI_COMM_WORLD. */
  rankAndSize(): { rank: number; size: number };
  /** MPI_Allreduce(MPI_IN_PLACE, data, count, type, op, MPI_COMM_WORLD) on a worker thread. */
  allReduce(
    data: ArrayBufferView,
    count: number,
    type: MpiType,
    op: Exclude<ReduceOp, "mean">,
  ): Promise<number>;
  /** MPI_Bcast(data, count, type, root, MPI_COMM_WORLD) on a worker thread. */
  broadcast(data: ArrayBufferView, count: number, type: MpiType, root: number): Promise<number>;
  /** MPI_Barrier(MPI_COMM_WORLD) on a worker thread. */
  barrier(): Promise<number>;
  /** MPI_Abort(MPI_COMM_WORLD, code), here (does not return when it works). */
  abortNow(code: number): number;
  /** MPI_Abort on a worker thread (the caller keeps a timer running). */
  abort(code: number): Promise<number>;
  /** MPI_Finalize. Main thread. */
  finalize(): number;
}

const COMMON = {
  MPI_Get_library_version: { parameters: ["buffer", "buffer"], result: "i32" },
  MPI_Initialized: { parameters: ["buffer"], result: "i32" },
  MPI_Init_thread: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
  MPI_Finalize: { parameters: [], result: "i32" },
} as const;

/** Handle parameters: pointers in Open MPI, ints in MPICH. */
function table<H extends "pointer" | "i32">(h: H) {
  return {
    ...COMMON,
    MPI_Comm_rank: { parameters: [h, "buffer"], result: "i32" },
    MPI_Comm_size: { parameters: [h, "buffer"], result: "i32" },
    MPI_Allreduce: {
      parameters: ["pointer", "buffer", "i32", h, h, h],
      result: "i32",
      nonblocking: true,
    },
    MPI_Bcast: { parameters: ["buffer", "i32", h, "i32", h], result: "i32", nonblocking: true },
    MPI_Barrier: { parameters: [h], result: "i32", nonblocking: true },
    MPI_Abort: { parameters: [h, "i32"], result: "i32" },
    MPI_Abort_async: {
      name: "MPI_Abort",
      parameters: [h, "i32"],
      result: "i32",
      nonblocking: true,
    },
  } as const;
}

const OPENMPI = {
  ...table("pointer"),
  ompi_mpi_comm_world: { type: "pointer" },
  ompi_mpi_float: { type: "pointer" },
  ompi_mpi_double: { type: "pointer" },
  ompi_mpi_byte: { type: "pointer" },
  ompi_mpi_op_sum: { type: "pointer" },
  ompi_mpi_op_max: { type: "pointer" },
  ompi_mpi_op_min: { type: "pointer" },
} as const;

const MPICH = table("i32");

const PROBE = {
  MPI_Get_library_version: COMMON.MPI_Get_library_version,
  ompi_mpi_comm_world: { type: "pointer", optional: true },
} as const;

/** Libraries that use MPICH's ABI, as their version strings name them. */
const MPICH_FAMILY = /MPICH|MVAPICH|Intel\(R\) MPI|CRAY MPICH/i;

function libraryVersion(fn: (v: Uint8Array, n: Int32Array) => number): string {
  const v = new Uint8Array(8192), n = new Int32Array(1);
  if (fn(v, n) !== 0) return "unknown version";
  const text = new TextDecoder().decode(v.subarray(0, Math.max(0, Math.min(n[0], v.length))));
  return text.split("\n")[0].replace(/\0.*$/, "").replace(/\s+/g, " ").trim();
}

/** The loader's reason without Deno's repeated "Could not open library: <path>: " prefixes. */
function dlopenError(path: string, e: unknown): string {
  const text = (e instanceof Error ? e.message : String(e)).split("\n")[0];
  return text.replaceAll("Could not open library: ", "").replaceAll(`${path}: `, "");
}

/** Whether `e` is Deno refusing FFI for want of --allow-ffi. */
function isPermissionError(e: unknown): boolean {
  return e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied;
}

/** Where to look for the MPI library. */
export interface LibraryChoice {
  /** TEMPO_MPI_LIB: this path or soname only. */
  explicit?: string;
  /** The launcher's family, whose sonames are tried first. */
  family?: MpiAbi;
  /** The names to try instead of `mpiSonames(family)` (tests). */
  candidates?: readonly string[];
}

/**
 * Open the MPI library: `explicit` (TEMPO_MPI_LIB) when given, else the first of
 * `mpiSonames(family)` that loads. Throws a TempoError naming what was tried and what to install,
 * or that --allow-ffi is missing.
 */
export function openMpiLibrary(choice: LibraryChoice = {}): MpiApi {
  const { explicit } = choice;
  const candidates = explicit ? [explicit] : choice.candidates ?? mpiSonames(choice.family);
  const failures: string[] = [];
  for (const path of candidates) {
    let probe;
    try {
      probe = Deno.dlopen(path, PROBE);
    } catch (e) {
      if (isPermissionError(e)) {
        throw new TempoError(
          "loading the MPI library needs Deno's FFI permission",
          "run through `deno task pretrain` (it has --allow-ffi), or add --allow-ffi to deno run",
        );
      }
      failures.push(dlopenError(path, e));
      continue;
    }
    const isOpenMpi = probe.symbols.ompi_mpi_comm_world !== null;
    const version = libraryVersion(probe.symbols.MPI_Get_library_version);
    probe.close();
    if (isOpenMpi) return openMpiApi(path, version);
    if (MPICH_FAMILY.test(version)) return mpichApi(path, version);
    throw new TempoError(
      `${path} is an MPI library tempo does not know the binary interface of (${version})`,
      "use Open MPI or an MPICH-ABI library (MPICH, Intel MPI, MVAPICH), via TEMPO_MPI_LIB",
    );
  }
  throw new TempoError(
    explicit
      ? `TEMPO_MPI_LIB=${explicit} cannot be loaded (${failures[0]})`
      : `no MPI library found (tried ${candidates.join(", ")})`,
    MPI_INSTALL_HINT,
  );
}

function initialized(fn: (flag: Int32Array) => number): boolean {
  const flag = new Int32Array(1);
  fn(flag);
  return flag[0] !== 0;
}

function openMpiApi(path: string, version: string): MpiApi {
  const lib = Deno.dlopen(path, OPENMPI);
  const s = lib.symbols;
  const comm = s.ompi_mpi_comm_world;
  const types = { float: s.ompi_mpi_float, double: s.ompi_mpi_double, byte: s.ompi_mpi_byte };
  const ops = { sum: s.ompi_mpi_op_sum, max: s.ompi_mpi_op_max, min: s.ompi_mpi_op_min };
  const inPlace = Deno.UnsafePointer.create(1n);
  return {
    abi: "openmpi",
    path,
    version,
    initialized: () => initialized(s.MPI_Initialized),
    initThread(required) {
      const provided = new Int32Array(1);
      const rc = s.MPI_Init_thread(null, null, required, provided);
      if (rc !== 0) throw new TempoError(`MPI_Init_thread failed (error ${rc})`);
      return provided[0];
    },
    rankAndSize() {
      const r = new Int32Array(1), n = new Int32Array(1);
      s.MPI_Comm_rank(comm, r);
      s.MPI_Comm_size(comm, n);
      return { rank: r[0], size: n[0] };
    },
    allReduce: (data, count, type, op) =>
      s.MPI_Allreduce(inPlace, data, count, types[type], ops[op], comm),
    broadcast: (data, count, type, root) => s.MPI_Bcast(data, count, types[type], root, comm),
    barrier: () => s.MPI_Barrier(comm),
    abortNow: (code) => s.MPI_Abort(comm, code),
    abort: (code) => s.MPI_Abort_async(comm, code),
    finalize: () => s.MPI_Finalize(),
  };
}

function mpichApi(path: string, version: string): MpiApi {
  const lib = Deno.dlopen(path, MPICH);
  const s = lib.symbols, h = MPICH_HANDLES;
  const comm = h.commWorld;
  const types = { float: h.float, double: h.double, byte: h.byte };
  const ops = { sum: h.sum, max: h.max, min: h.min };
  const inPlace = Deno.UnsafePointer.create(0xffffffffffffffffn); // (void *) -1
  return {
    abi: "mpich",
    path,
    version,
    initialized: () => initialized(s.MPI_Initialized),
    initThread(required) {
      const provided = new Int32Array(1);
      const rc = s.MPI_Init_thread(null, null, required, provided);
      if (rc !== 0) throw new TempoError(`MPI_Init_thread failed (error ${rc})`);
      return provided[0];
    },
    rankAndSize() {
      const r = new Int32Array(1), n = new Int32Array(1);
      s.MPI_Comm_rank(comm, r);
      s.MPI_Comm_size(comm, n);
      return { rank: r[0], size: n[0] };
    },
    allReduce: (data, count, type, op) =>
      s.MPI_Allreduce(inPlace, data, count, types[type], ops[op], comm),
    broadcast: (data, count, type, root) => s.MPI_Bcast(data, count, types[type], root, comm),
    barrier: () => s.MPI_Barrier(comm),
    abortNow: (code) => s.MPI_Abort(comm, code),
    abort: (code) => s.MPI_Abort_async(comm, code),
    finalize: () => s.MPI_Finalize(),
  };
}

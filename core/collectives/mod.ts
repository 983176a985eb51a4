/**
 * Collectives for data-parallel training: one process, or MPI through Deno's FFI.
 * @module
 */
export * from "./collectives.ts";
export * from "./launcher.ts";
export * from "./mpi_lib.ts";
export * from "./mpi.ts";
export * from "./open.ts";

/**
 * core: the engine, nothing about transformers.
 * @module
 */
export * from "./errors.ts";
export * from "./dtype.ts";
export * from "./dtype_check.ts";
export * from "./half.ts";
export * from "./tensor.ts";
export * from "./allocator.ts";
export * from "./gpu.ts";
export * from "./kernel.ts";
export * from "./accessors.ts";
export * from "./encoder.ts";
export * from "./step.ts";
export * from "./train/batch.ts";
export * from "./train/model.ts";
export * from "./train/schedule.ts";
export * from "./train/trainer.ts";
export * from "./train/loop.ts";
export * from "./fs_error.ts";
export * from "./train/checkpoint.ts";
export * from "./train/manifest.ts";
export * from "./train/run_folder.ts";
export * from "./train/safetensors.ts";
export * from "./train/memory.ts";
export * from "./train/data_parallel.ts";
export * from "./collectives/mod.ts";
export * from "./device_select.ts";
export * from "./train/evaluate.ts";
export * from "./train/weights.ts";

/**
 * models: configs, presets, the transformer node lists, inference and sampling, memory plans, and
 * the Hugging Face layouts.
 * @module
 */
export * from "./config.ts";
export * from "./graph.ts";
export * from "./transformer.ts";
export * from "./plan.ts";
export * from "./blocks.ts";
export * from "./inference.ts";
export * from "./sampling.ts";
export * from "./hf/mod.ts";

/**
 * models: configs, presets, the transformer node lists, and memory plans.
 * @module
 */
export * from "./config.ts";
export * from "./graph.ts";
export * from "./transformer.ts";
export * from "./plan.ts";

/**
 * models/hf: Hugging Face checkpoints both ways (layout, tensors, config.json, folders).
 * @module
 */
export * from "./layout.ts";
export * from "./convert.ts";
export * from "./config.ts";
export * from "./folder.ts";
export * from "./export.ts";
export * from "./import.ts";

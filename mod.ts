/**
 * tempo: pretrain BERT, GPT-2 and RoBERTa on the GPU through WebGPU, with the memory-saving
 * layers of Tempo (NeurIPS 2022) switchable one by one.
 *
 * The public API, by room: core (device, tensors, allocator, kernels, training loop, memory model),
 * layers (baseline and Tempo layers with declared saved tensors), models (configs, presets,
 * transformers, memory plans) and datasets (tokenizers, shards, loaders).
 * @module
 */
export * from "./core/mod.ts";
export * from "./layers/mod.ts";
export * from "./models/mod.ts";
export * from "./datasets/mod.ts";

/**
 * layers: forward/backward pairs with their kept tensors declared as data; Tempo variants differ
 * from their baselines only there and in their kernels.
 * @module
 */
export * from "./layer.ts";
export * from "./params.ts";
export * from "./tempo_options.ts";
export * from "./batch_tensors.ts";
export * from "./linear.ts";
export * from "./residual.ts";
export * from "./dropout.ts";
export * from "./layernorm.ts";
export * from "./gelu.ts";
export * from "./attention.ts";
export * from "./fused_attention.ts";
export * from "./embedding.ts";
export * from "./gather.ts";
export * from "./lm_loss.ts";
export * from "./kv_cache.ts";
export * from "./cached_attention.ts";
export * from "./lm_logits.ts";
export * from "./lm_argmax.ts";
export * from "./inference_params.ts";

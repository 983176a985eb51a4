/**
 * Training precision (`--precision f32|f16|bf16`): the storage dtype of activations, the tensors
 * layers pass between them and keep for backward, and of their gradients. Mixed precision as
 * PyTorch's autocast and llm.c use it: parameters (the f32 master weights), parameter gradients
 * and AdamW's moments stay f32 whatever the precision; 16-bit matmul operands accumulate in f32;
 * LayerNorm statistics, softmax and the cross-entropy compute in f32 and store 16-bit outputs.
 * f16 needs dynamic loss scaling (core/train/loss_scaler.ts) and the adapter's `shader-f16`; bf16
 * has f32's range and trains unscaled on every adapter.
 * @module
 */
import { type DtypeSupport, needDtypeSupport } from "./dtype_check.ts";
import type { FloatDType } from "./dtype.ts";
import { TempoError } from "./errors.ts";

/** A training precision: the activations' storage dtype. */
export type Precision = FloatDType;

/** The precisions, in the order help and messages list them. */
export const PRECISIONS: readonly Precision[] = ["f32", "f16", "bf16"];

/** Whether a run at this precision scales its loss (f16: its range is too narrow for gradients). */
export function scalesLoss(p: Precision): boolean {
  return p === "f16";
}

/**
 * Parse `--precision` (f32 | f16 | bf16; also fp32, fp16, float16, half, bfloat16), with the
 * Hugging Face Trainer's switches `--fp16` and `--bf16` beside it. Undefined is f32. Conflicting
 * choices are refused in one line.
 */
export function parsePrecision(
  value?: string,
  switches: { fp16?: boolean; bf16?: boolean } = {},
): Precision {
  const picked: Precision[] = [];
  if (value !== undefined) picked.push(precisionOf(value));
  if (switches.fp16) picked.push("f16");
  if (switches.bf16) picked.push("bf16");
  const distinct = [...new Set(picked)];
  if (distinct.length > 1) {
    throw new TempoError(
      `conflicting precisions: ${distinct.join(" and ")} (--precision, --fp16, --bf16)`,
      "give one of them",
    );
  }
  return distinct[0] ?? "f32";
}

const SPELLINGS: Record<string, Precision> = {
  f32: "f32",
  fp32: "f32",
  float32: "f32",
  f16: "f16",
  fp16: "f16",
  float16: "f16",
  half: "f16",
  bf16: "bf16",
  bfloat16: "bf16",
};

function precisionOf(value: string): Precision {
  const p = SPELLINGS[value.trim().toLowerCase()];
  if (!p) {
    throw new TempoError(`unknown --precision '${value}'`, `use ${PRECISIONS.join(", ")}`);
  }
  return p;
}

/**
 * Throw a one-line TempoError unless `gpu` can train at `p`: f16 needs `shader-f16`. Checked
 * before anything is built, so that the run fails by name and not in its first kernel.
 */
export function needPrecisionSupport(gpu: DtypeSupport, p: Precision): void {
  if (p !== "f16") return;
  try {
    needDtypeSupport(gpu, "f16");
  } catch {
    throw new TempoError(
      `--precision f16 needs the adapter feature 'shader-f16', which ${gpu.description} lacks`,
      "use --precision bf16 (works on every adapter) or f32",
    );
  }
}

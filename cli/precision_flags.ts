/**
 * The precision flags every training and planning command takes: `--precision f32|f16|bf16`, and
 * the Hugging Face Trainer's `--fp16` / `--bf16` beside it.
 * @module
 */
import { Option } from "@commander-js/extra-typings";
import { parsePrecision, type Precision } from "../core/precision.ts";

/** `--precision <p>`. */
export function precisionOption() {
  return new Option(
    "--precision <p>",
    "activation storage: f32 | f16 | bf16 (16 bits: f32 master weights, gradients and AdamW " +
      "moments; f16 with dynamic loss scaling; default f32)",
  );
}

/** `--fp16` (Hugging Face Trainer spelling of --precision f16). */
export function fp16Option() {
  return new Option("--fp16", "same as --precision f16");
}

/** `--bf16` (Hugging Face Trainer spelling of --precision bf16). */
export function bf16Option() {
  return new Option("--bf16", "same as --precision bf16");
}

/** The precision of parsed flags (one-line TempoError on an unknown or conflicting one). */
export function precisionOf(o: { precision?: string; fp16?: boolean; bf16?: boolean }): Precision {
  return parsePrecision(o.precision, { fp16: o.fp16, bf16: o.bf16 });
}

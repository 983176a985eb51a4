/**
 * Shared argument and checkpoint-state checks for the batch loaders.
 *
 * @module
 */

import { DatasetError } from "./errors.ts";

/** Throws a DatasetError unless `value` is an integer >= min. */
export function checkInt(name: string, value: number, min: number, hint: string): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new DatasetError(`${name} must be an integer >= ${min}, got ${value}. ${hint}`);
  }
}

/**
 * Checks that a checkpointed loader state was made by a loader configured like this one.
 * `expected` holds this loader's settings; each must equal the state's.
 */
export function checkStateMatches(
  state: Record<string, unknown>,
  expected: Record<string, unknown>,
): void {
  for (const [key, want] of Object.entries(expected)) {
    const got = state[key];
    if (got !== want) {
      throw new DatasetError(
        `Cannot resume the data loader: the checkpoint has ${key}=${
          JSON.stringify(got)
        } but this ` +
          `run has ${key}=${JSON.stringify(want)}. Resume with the same data and settings ` +
          `(batch size, sequence length, seed, ...) as the checkpointed run.`,
      );
    }
  }
}

/** Reads a non-negative integer field of a checkpointed state, or throws a DatasetError. */
export function stateInt(state: Record<string, unknown>, key: string): number {
  const v = state[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new DatasetError(
      `Cannot resume the data loader: checkpoint field "${key}" is ${JSON.stringify(v)}, ` +
        `not a non-negative integer. The checkpoint's loader state is damaged.`,
    );
  }
  return v;
}

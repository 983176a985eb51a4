/**
 * Token-id range checks with messages that point at the offending id.
 *
 * @module
 */

import { DatasetError } from "./errors.ts";

/**
 * Throws a DatasetError naming the first id outside [0, vocabSize) and its position.
 *
 * @param ids The ids to check.
 * @param vocabSize V; valid ids are 0..V-1.
 * @param where Describes the ids in the message, e.g. "shard data/train.bin".
 * @param offset Added to positions in the message (e.g. the start of a range read).
 */
export function checkIds(
  ids: ArrayLike<number>,
  vocabSize: number,
  where: string,
  offset = 0,
): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!(id >= 0 && id < vocabSize && Number.isInteger(id))) {
      throw new DatasetError(
        `${where}: token id ${id} at position ${offset + i} is outside the vocabulary ` +
          `(valid ids are 0..${vocabSize - 1}). The data was probably made with a different ` +
          `tokenizer; re-run prepare with the tokenizer of this model, or pick the matching model.`,
      );
    }
  }
}

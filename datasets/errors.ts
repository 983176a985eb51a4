/**
 * The one error type of `datasets/`: bad input (a missing file, a corrupt shard, an unknown
 * tokenizer, an impossible batch shape). Its message says what was wrong and what to do.
 *
 * @module
 */

/** Bad input to a dataset function; the message says what was wrong and what to do about it. */
export class DatasetError extends Error {
  /**
   * Makes the error.
   *
   * @param message What was wrong, then what to do about it.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DatasetError";
  }
}

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

/**
 * A file-system failure on `path` (permissions, a full disk, a symlink loop...) as a DatasetError
 * of one line: the path, the system's reason, and what to do. A DatasetError is returned as is.
 *
 * @param path The file or folder the operation was on.
 * @param cause What the operation threw.
 * @param hint What the user can do, e.g. "Check its permissions."
 */
export function fileError(path: string, cause: unknown, hint: string): DatasetError {
  if (cause instanceof DatasetError) return cause;
  const reason = cause instanceof Error ? cause.message.split("\n")[0] : String(cause);
  return new DatasetError(`${path}: ${reason}. ${hint}`, { cause });
}

/**
 * Typed errors. Every failure the user can cause or meet says what went wrong and what to do.
 * @module
 */

/** Base class of every error tempo raises on purpose. `hint` says what to do about it. */
export class TempoError extends Error {
  /** What the user can do about it. */
  readonly hint: string;
  constructor(message: string, hint = "", cause?: unknown) {
    super(
      hint ? `${message}\n  hint: ${hint}` : message,
      cause === undefined ? undefined : { cause },
    );
    this.name = "TempoError";
    this.hint = hint;
  }
}

/** No WebGPU in this runtime, or no adapter could be found. */
export class NoAdapterError extends TempoError {
  constructor(reason: string) {
    super(
      `no WebGPU adapter: ${reason}`,
      "install a GPU driver (Vulkan), or Mesa's software rasteriser: " +
        "`apt-get install mesa-vulkan-drivers` (lavapipe); DENO_WEBGPU_BACKEND=vulkan|gl picks the backend",
    );
    this.name = "NoAdapterError";
  }
}

/** A kernel failed to compile or validate. Names the kernel and carries the compiler's messages. */
export class KernelError extends TempoError {
  /** The kernel spec's name. */
  readonly kernel: string;
  constructor(kernel: string, detail: string) {
    super(`kernel '${kernel}' is invalid: ${detail}`, "this is a bug in tempo; please report it");
    this.name = "KernelError";
    this.kernel = kernel;
  }
}

/** An allocation would exceed the memory limit (or the device ran out of memory). */
export class OutOfMemoryError extends TempoError {
  /** Category of the allocation that failed. */
  readonly category: string;
  /** Bytes that were asked for. */
  readonly requested: number;
  /** Bytes live (all categories) when it failed. */
  readonly live: number;
  /** The limit in force, if any. */
  readonly limit: number | undefined;
  constructor(category: string, requested: number, live: number, limit?: number, label = "") {
    super(
      `out of memory: allocating ${requested} bytes of ${category}${label ? ` (${label})` : ""} ` +
        `with ${live} bytes live` +
        (limit !== undefined ? ` exceeds the limit of ${limit} bytes` : ""),
      "lower --batch-size or --seq-len, turn Tempo layers on (--tempo all), or raise --memory-limit",
    );
    this.name = "OutOfMemoryError";
    this.category = category;
    this.requested = requested;
    this.live = live;
    this.limit = limit;
  }
}

/** The GPU reported an error or was lost. */
export class DeviceError extends TempoError {
  constructor(message: string) {
    super(`GPU error: ${message}`);
    this.name = "DeviceError";
  }
}

/**
 * A tensor's element type that an op, a kernel or the adapter cannot take (e.g. f16 without the
 * adapter feature `shader-f16`). The message names what refused it and what it accepts.
 */
export class DTypeError extends TempoError {
  constructor(message: string) {
    super(message);
    this.name = "DTypeError";
  }
}

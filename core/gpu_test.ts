import { KernelError, NoAdapterError } from "./errors.ts";
import { acquireGpu } from "./gpu.ts";
import { checkKernel, type KernelSpec } from "./kernel.ts";
import { Encoder } from "./encoder.ts";
import { Allocator } from "./allocator.ts";
import { GPU_TEST, testGpu } from "./testing.ts";

async function withGpu(gpu: unknown, fn: () => Promise<void>): Promise<void> {
  const own = Object.getOwnPropertyDescriptor(navigator, "gpu");
  Object.defineProperty(navigator, "gpu", { configurable: true, value: gpu });
  try {
    await fn();
  } finally {
    if (own) Object.defineProperty(navigator, "gpu", own);
    else delete (navigator as unknown as Record<string, unknown>).gpu;
  }
}

async function expectNoAdapter(pattern: RegExp): Promise<void> {
  let err: unknown;
  try {
    await acquireGpu();
  } catch (e) {
    err = e;
  }
  if (
    !(err instanceof NoAdapterError) || !pattern.test(err.message) ||
    !/mesa-vulkan-drivers/.test(err.message)
  ) {
    throw new Error(`expected NoAdapterError ${pattern}, got ${err}`);
  }
}

Deno.test("no navigator.gpu, or no adapter: a clear error that says how to get one", async () => {
  await withGpu(undefined, () => expectNoAdapter(/no navigator\.gpu/));
  await withGpu(
    { requestAdapter: () => Promise.resolve(null) },
    () => expectNoAdapter(/returned null/),
  );
});

const BAD: KernelSpec = {
  name: "deliberately_invalid",
  bindings: [{ name: "out", type: "f32", write: true }],
  workgroupSize: [8],
  body: "out[0] = undefined_symbol;",
};

Deno.test({ name: "an invalid kernel fails loudly, naming the kernel", ...GPU_TEST }, async () => {
  const gpu = await testGpu();
  let err: unknown;
  try {
    await checkKernel(gpu, BAD);
  } catch (e) {
    err = e;
  }
  if (!(err instanceof KernelError && err.kernel === "deliberately_invalid")) {
    throw new Error(`checkKernel: ${err}`);
  }
  // Through the dispatch path: the error surfaces at the next sync point.
  const enc = new Encoder(gpu), alloc = new Allocator({ device: gpu.device });
  const out = alloc.alloc([4], "f32", "workspace", "out");
  err = undefined;
  try {
    enc.dispatch(BAD, { out }, {}, [1]);
    await enc.sync();
    await enc.sync();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof Error && /deliberately_invalid/.test(err.message))) {
    throw new Error(`dispatch: ${err}`);
  }
});

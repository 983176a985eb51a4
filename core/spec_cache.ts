/**
 * Kernel specs generated once: ops build a spec's WGSL from its parameters (layout, width,
 * in-place, ...) on first use and get the same object on every later call, so the pipeline
 * cache's fast path (by spec object, in kernel.ts) applies and no WGSL is regenerated per call.
 * One cache for all ops, keyed by the spec's name, which kernel.ts already requires to be unique.
 * @module
 */
import type { KernelSpec } from "./kernel.ts";

const specs = new Map<string, KernelSpec>();

/**
 * The spec named `name`, made by `make` on first use. `make` must return a spec of that name
 * (so that two generators cannot share a key by accident).
 */
export function cachedSpec(name: string, make: () => KernelSpec): KernelSpec {
  let spec = specs.get(name);
  if (!spec) {
    spec = make();
    if (spec.name !== name) {
      throw new Error(`cachedSpec: the generator of '${name}' made a spec named '${spec.name}'`);
    }
    specs.set(name, spec);
  }
  return spec;
}

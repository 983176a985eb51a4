/**
 * The step encoder: records many dispatches into one compute pass and submits rarely (each
 * submit + wait costs ~11 ms on the software adapter, a dispatch ~25 us). Uniforms of all
 * dispatches go into one arena written right before each submit, bound with dynamic offsets.
 * In planning mode (no GPU) every method is a no-op, so the same model code runs in both.
 * Where the device has `timestamp-query`, a profiling mode (`startProfile`/`stopProfile`) gives
 * each dispatch its own pass with timestamps, so a real step's kernels are timed on the GPU.
 * @module
 */
import { sizeClass } from "./allocator.ts";
import { bytesOf, elementBits, isHalf } from "./dtype.ts";
import { checkErrors, type Gpu } from "./gpu.ts";
import { decodeHalves, encodeHalves } from "./half.ts";
import {
  compile,
  type KernelSpec,
  texelBytes,
  type TextureFormat,
  uniformBindingOf,
} from "./kernel.ts";
import type { Tensor } from "./tensor.ts";

/** A byte range of a tensor, for chunked bindings. */
export interface TensorRange {
  /** The tensor. */
  tensor: Tensor;
  /** Byte offset (a multiple of the device's storage alignment). */
  offset: number;
  /** Bytes. */
  size: number;
}

/** What a binding accepts. */
export type Bindable = Tensor | TensorRange;

/**
 * Elements [start, start + count) of `t` as a binding range, in bytes of its dtype: the offset
 * must fall on a u32 word (start a multiple of 2 for f16/bf16, 4 for u8, 32 for bit; chunkers
 * choose multiples of the storage alignment in elements, `elementsIn(dtype, storageAlign)`), and
 * the size is rounded up to whole words (a 16-bit range of odd count ends in its padding half).
 */
export function rangeOf(t: Tensor, start: number, count: number): TensorRange {
  const bits = start * elementBits(t.dtype);
  if (!Number.isInteger(start) || start < 0 || bits % 32 !== 0) {
    throw new Error(`range of ${t} at element ${start}: not on a u32 word`);
  }
  const size = bytesOf(t.dtype, count), offset = bits / 8;
  if (!Number.isInteger(count) || count < 0 || start + count > t.size) {
    throw new Error(`range [${start}, ${start + count}) out of ${t}`);
  }
  return { tensor: t, offset, size };
}

/** What `dispatch` binds: a storage binding, or a whole texture for a texture binding. */
export type DispatchBinding = Bindable | GPUTexture;

/** One profiled dispatch: its kernel's name and the GPU time of its pass. */
export interface DispatchTiming {
  /** The kernel spec's name. */
  name: string;
  /** Nanoseconds from the start to the end of its pass, by the device's timestamps. */
  ns: number;
}

const ARENA_BYTES = 1 << 20;

/** Dispatches per timestamp query set (two queries each; WebGPU allows 4096 queries a set). */
const PROFILE_BATCH = 2048;

/** A profiling session: the query set, the names of this batch, the batches being read. */
interface Profile {
  querySet: GPUQuerySet;
  resolve: GPUBuffer;
  names: string[];
  /** Reads to start once the current command buffer is submitted. */
  submitted: (() => void)[];
  reads: Promise<DispatchTiming[]>[];
}

let bufferIds = new WeakMap<GPUBuffer | GPUTexture, number>();
let nextBufferId = 1;
function bufferId(b: GPUBuffer | GPUTexture): number {
  let id = bufferIds.get(b);
  if (id === undefined) bufferIds.set(b, id = nextBufferId++);
  return id;
}

/** Records dispatches; `submit()` sends them. Construct with `null` for planning mode. */
export class Encoder {
  /** The GPU, or null in planning mode. */
  readonly gpu: Gpu | null;
  /** Dispatches recorded since construction. */
  dispatches = 0;
  /** Submits since construction. */
  submits = 0;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #arena: GPUBuffer | null = null;
  #arenaData = new ArrayBuffer(ARENA_BYTES);
  #arenaView = new DataView(this.#arenaData);
  #arenaUsed = 0;
  #bindGroups = new Map<string, GPUBindGroup>();
  #staging = new Map<number, GPUBuffer[]>();
  #stagingBytes = 0;
  #scratch = new Map<string, GPUTexture>(); // by slot and format
  #views = new WeakMap<GPUTexture, GPUTextureView>();
  #profile: Profile | null = null;

  constructor(gpu: Gpu | null) {
    this.gpu = gpu;
  }

  /** True in planning mode. */
  get planning(): boolean {
    return this.gpu === null;
  }

  /**
   * Bytes of the encoder's own backend resources: the uniform arena, the staging buffers of
   * `read` and the scratch textures of `scratchTexture`. They are not tensors and belong to none
   * of the allocator's categories (parameters, activations, ...): report them next to the
   * allocator's numbers, not inside them.
   */
  get backendBytes(): number {
    return (this.#arena ? ARENA_BYTES : 0) + this.#stagingBytes + this.scratchBytes;
  }

  /** Bytes of the scratch textures alone (part of `backendBytes`; 16 or 8 bytes per texel). */
  get scratchBytes(): number {
    let n = 0;
    for (const t of this.#scratch.values()) {
      n += t.width * t.height * texelBytes(t.format as TextureFormat);
    }
    return n;
  }

  /**
   * A scratch texture of `format` (rgba32float, or rgba16float: half the bytes, f16 channels) of
   * at least `width` x `height` texels (sampled and storage usage), cached under `slot` and
   * `format` (one texture per pair) and reused across calls: it only grows (each side to a size
   * class, never past maxTextureDimension2D), and growing submits pending work before destroying
   * the old one. Its contents are undefined between uses; ops that pack operands into it and read
   * them back within their own dispatches may share a slot. Null in planning mode.
   */
  scratchTexture(
    slot: string,
    width: number,
    height: number,
    format: TextureFormat = "rgba32float",
  ): GPUTexture | null {
    const gpu = this.gpu;
    if (!gpu) return null;
    const max = gpu.device.limits.maxTextureDimension2D;
    for (const v of [width, height]) {
      if (!Number.isInteger(v) || v < 1 || v > max) {
        throw new Error(`scratchTexture: side ${v} outside [1, ${max}] (maxTextureDimension2D)`);
      }
    }
    const key = format === "rgba32float" ? slot : `${slot}|${format}`;
    const old = this.#scratch.get(key);
    if (old && old.width >= width && old.height >= height) return old;
    const side = (v: number, o: number) => Math.min(max, Math.max(o, textureSide(v)));
    const w = side(width, old?.width ?? 0), h = side(height, old?.height ?? 0);
    if (old) {
      if (this.#encoder) this.submit(); // recorded dispatches may still bind the old texture
      old.destroy();
    }
    const t = gpu.device.createTexture({
      label: format === "rgba32float" ? `scratch-${slot}` : `scratch-${slot}-${format}`,
      size: [w, h],
      format,
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING |
        GPUTextureUsage.COPY_SRC | GPUTextureUsage.COPY_DST,
    });
    this.#scratch.set(key, t);
    return t;
  }

  /** Destroy the scratch textures (pending work is submitted first); later calls recreate them. */
  releaseScratch(): void {
    if (this.#scratch.size === 0) return;
    if (this.#encoder) this.submit();
    for (const t of this.#scratch.values()) t.destroy();
    this.#scratch.clear();
  }

  /** Record one dispatch of `spec` over `groups` workgroups. */
  dispatch(
    spec: KernelSpec,
    bindings: Record<string, DispatchBinding>,
    uniforms: Record<string, number>,
    groups: readonly [number, number?, number?],
  ): void {
    const gpu = this.gpu;
    if (!gpu) return;
    const [gx, gy = 1, gz = 1] = groups;
    if (gx === 0 || gy === 0 || gz === 0) return;
    const compiled = compile(gpu, spec);
    let uniformOffset = 0;
    if (compiled.uniformBytes > 0) {
      const slot = Math.ceil(compiled.uniformBytes / gpu.uniformAlign) * gpu.uniformAlign;
      if (this.#arenaUsed + slot > ARENA_BYTES) this.submit();
      uniformOffset = this.#arenaUsed;
      this.#arenaUsed += slot;
      for (const [k, [name, type]] of (spec.uniforms ?? []).entries()) {
        const v = uniforms[name];
        if (v === undefined) throw new Error(`kernel '${spec.name}': uniform '${name}' not given`);
        const at = uniformOffset + 4 * k;
        if (type === "f32") this.#arenaView.setFloat32(at, v, true);
        else if (type === "u32") this.#arenaView.setUint32(at, v >>> 0, true);
        else this.#arenaView.setInt32(at, v | 0, true);
      }
    }
    const profile = this.#profile;
    if (profile && profile.names.length === PROFILE_BATCH) this.submit(); // resolves the batch
    const pass = profile ? this.#beginTimedPass(profile, spec.name) : this.#beginPass();
    pass.setPipeline(compiled.pipeline);
    const group = this.#bindGroup(spec, compiled.layout, compiled.uniformBytes, bindings);
    pass.setBindGroup(0, group, compiled.uniformBytes > 0 ? [uniformOffset] : []);
    pass.dispatchWorkgroups(gx, gy, gz);
    if (profile) this.#endPass();
    this.dispatches++;
  }

  /** True while `startProfile` is in effect. */
  get profiling(): boolean {
    return this.#profile !== null;
  }

  /**
   * Start timing dispatches on the GPU: until `stopProfile`, each dispatch runs in its own
   * compute pass whose `timestampWrites` mark its start and end (copies and clears, which run
   * outside passes, are not timed). Costs a pass per dispatch; meant for profiling one step.
   * Needs the device feature `timestamp-query` (`Gpu.hasTimestamps`); throws otherwise.
   */
  startProfile(): void {
    const gpu = this.gpu;
    if (!gpu) return;
    if (!gpu.hasTimestamps) {
      throw new Error(
        `startProfile: ${gpu.description} has no 'timestamp-query'; time kernels by replaying them`,
      );
    }
    if (this.#profile) throw new Error("startProfile: already profiling");
    if (this.#encoder) this.submit(); // earlier work stays out of the profile
    this.#profile = {
      querySet: gpu.device.createQuerySet({ type: "timestamp", count: 2 * PROFILE_BATCH }),
      resolve: gpu.device.createBuffer({
        label: "profile-resolve",
        size: 16 * PROFILE_BATCH,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      }),
      names: [],
      submitted: [],
      reads: [],
    };
  }

  /**
   * Stop profiling: submits what is pending and resolves, once the GPU has run it, to the timing
   * of every dispatch since `startProfile`, in order.
   */
  async stopProfile(): Promise<DispatchTiming[]> {
    const profile = this.#profile;
    if (!profile) return [];
    this.submit();
    this.#profile = null;
    const batches = await Promise.all(profile.reads);
    profile.querySet.destroy();
    profile.resolve.destroy();
    return batches.flat();
  }

  #beginTimedPass(profile: Profile, name: string): GPUComputePassEncoder {
    this.#endPass();
    const i = profile.names.length;
    profile.names.push(name);
    return this.#pass = this.#commandEncoder().beginComputePass({
      timestampWrites: {
        querySet: profile.querySet,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      },
    });
  }

  /** Resolve this batch's timestamps into a mappable buffer (recorded before the submit). */
  #resolveProfile(profile: Profile): void {
    const n = profile.names.length;
    if (n === 0) return;
    const device = this.gpu!.device;
    const out = device.createBuffer({
      label: "profile-read",
      size: 16 * n,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.#commandEncoder();
    enc.resolveQuerySet(profile.querySet, 0, 2 * n, profile.resolve, 0);
    enc.copyBufferToBuffer(profile.resolve, 0, out, 0, 16 * n);
    const names = profile.names;
    profile.names = [];
    // Mapped only once the command buffer that fills it is submitted (`submit`).
    profile.submitted.push(() =>
      profile.reads.push((async () => {
        await out.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(out.getMappedRange().slice(0));
        out.destroy();
        return names.map((name, i) => ({ name, ns: Number(t[2 * i + 1] - t[2 * i]) }));
      })())
    );
  }

  /** Copy `bytes` from `src` to `dst` (both at byte offsets). */
  copy(src: Tensor, dst: Tensor, bytes = src.bytes, srcOffset = 0, dstOffset = 0): void {
    if (!this.gpu) return;
    this.#endPass();
    this.#commandEncoder().copyBufferToBuffer(
      src.gpu,
      src.offset + srcOffset,
      dst.gpu,
      dst.offset + dstOffset,
      bytes,
    );
  }

  /**
   * Zero all of `t` with the backend's buffer clear (outside any pass: ends the current one). On
   * lavapipe this is a memset, several times faster than a fill kernel; on GPUs a DMA fill. Pass
   * boundaries cost little, but group clears (e.g. all gradients at the start of a step).
   */
  clear(t: Tensor): void {
    if (!this.gpu || t.bytes === 0) return;
    this.#endPass();
    this.#commandEncoder().clearBuffer(t.gpu, t.offset, Math.ceil(t.bytes / 4) * 4);
  }

  /**
   * Copy bytes of `src` into texels of `dst` (outside any pass: ends the current one): `size`
   * [width, height] texels at `origin` [x, y], row y of the copy read from byte
   * `byteOffset + y * bytesPerRow` of `src`. A texel is 4 elements of the texture's channel
   * type, so `src` must be f32 for rgba32float (16 bytes a texel) and f16 for rgba16float (8
   * bytes; bf16 bits are no f16 bits: convert those in a kernel). `byteOffset` is a multiple of
   * the texel's bytes, `bytesPerRow` a multiple of 256 (needed only when height > 1).
   */
  copyToTexture(
    src: Tensor,
    dst: GPUTexture,
    byteOffset: number,
    bytesPerRow: number | undefined,
    origin: readonly [number, number],
    size: readonly [number, number],
  ): void {
    if (!this.gpu || size[0] === 0 || size[1] === 0) return;
    const want = dst.format === "rgba16float" ? "f16" : dst.format === "rgba32float" ? "f32" : "";
    if (src.dtype !== want) {
      throw new Error(
        `copyToTexture: a ${dst.format} texture takes ${want || "no"} tensor bytes, got ${src}`,
      );
    }
    const texel = texelBytes(dst.format as TextureFormat);
    if (byteOffset % texel !== 0 || (bytesPerRow !== undefined && bytesPerRow % 256 !== 0)) {
      throw new Error(
        `copyToTexture from ${src}: byte offset ${byteOffset} must be a multiple of ${texel} ` +
          `(a ${dst.format} texel) and bytesPerRow ${bytesPerRow} of 256`,
      );
    }
    this.#endPass();
    this.#commandEncoder().copyBufferToTexture(
      { buffer: src.gpu, offset: src.offset + byteOffset, bytesPerRow },
      { texture: dst, origin: [origin[0], origin[1]] },
      [size[0], size[1]],
    );
  }

  /**
   * Upload host data into `t` at a byte offset. Pending work is submitted first, because a queue
   * write runs before any command buffer submitted after it.
   */
  write(t: Tensor, data: ArrayBufferView, byteOffset = 0): void {
    const gpu = this.gpu;
    if (!gpu || data.byteLength === 0) return; // Deno crashes on a zero-byte writeBuffer
    if (this.#encoder) this.submit();
    gpu.device.queue.writeBuffer(
      t.gpu,
      t.offset + byteOffset,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  /** Submit what was recorded. Does not wait. */
  submit(): void {
    const gpu = this.gpu;
    if (!gpu) return;
    checkErrors(gpu);
    if (!this.#encoder) return;
    this.#endPass();
    if (this.#profile) this.#resolveProfile(this.#profile);
    if (this.#arenaUsed > 0) {
      gpu.device.queue.writeBuffer(this.#uniformArena(), 0, this.#arenaData, 0, this.#arenaUsed);
      this.#arenaUsed = 0;
    }
    gpu.device.queue.submit([this.#encoder.finish()]);
    this.#encoder = null;
    this.submits++;
    if (this.#profile) { for (const start of this.#profile.submitted.splice(0)) start(); }
  }

  /**
   * Read `bytes` of `t` back. Records the copy, submits, and resolves when the data is mapped;
   * the caller may go on encoding meanwhile (that is how the loss is read without a stall).
   * In planning mode resolves to zeros.
   */
  async read(t: Tensor, bytes = t.bytes, byteOffset = 0): Promise<ArrayBuffer> {
    const gpu = this.gpu;
    if (!gpu) return new ArrayBuffer(bytes);
    const cls = sizeClass(bytes);
    let staging = this.#staging.get(cls)?.pop();
    if (!staging) {
      staging = gpu.device.createBuffer({
        label: "staging",
        size: cls,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      this.#stagingBytes += cls;
    }
    this.#endPass();
    this.#commandEncoder().copyBufferToBuffer(t.gpu, t.offset + byteOffset, staging, 0, bytes);
    this.submit();
    await staging.mapAsync(GPUMapMode.READ, 0, cls);
    const out = staging.getMappedRange(0, bytes).slice(0);
    staging.unmap();
    let list = this.#staging.get(cls);
    if (!list) this.#staging.set(cls, list = []);
    list.push(staging);
    checkErrors(gpu);
    return out;
  }

  /** Read the words of a 32-bit tensor as f32 (16-bit tensors: use `readAsF32`). */
  async readF32(t: Tensor): Promise<Float32Array> {
    if (isHalf(t.dtype)) throw new Error(`readF32 of ${t}: use readAsF32 for 16-bit tensors`);
    return new Float32Array(await this.read(t));
  }

  /** Read a float tensor (f32, f16, bf16) as its `t.size` f32 values (16-bit widened exactly). */
  async readAsF32(t: Tensor): Promise<Float32Array> {
    if (t.dtype === "f32") return new Float32Array(await this.read(t));
    if (!isHalf(t.dtype)) throw new Error(`readAsF32 of ${t}: not a float tensor`);
    return decodeHalves(t.dtype, new Uint16Array(await this.read(t)), t.size);
  }

  /**
   * Write `t.size` values into a float tensor (f32, f16, bf16), rounded to its dtype as a kernel
   * store would (`core/half.ts`); a 16-bit tensor of odd size gets +0 in its padding half.
   */
  writeFromF32(t: Tensor, data: ArrayLike<number>): void {
    if (data.length !== t.size) {
      throw new Error(`writeFromF32 to ${t}: ${data.length} values for ${t.size} elements`);
    }
    if (t.dtype === "f32") this.write(t, Float32Array.from(data));
    else if (isHalf(t.dtype)) this.write(t, encodeHalves(t.dtype, data));
    else throw new Error(`writeFromF32 to ${t}: not a float tensor`);
  }

  /** Submit and wait until the GPU has finished everything submitted. */
  async sync(): Promise<void> {
    const gpu = this.gpu;
    if (!gpu) return;
    this.submit();
    await gpu.device.queue.onSubmittedWorkDone();
    checkErrors(gpu);
  }

  /** Forget cached bind groups (call when buffers were destroyed, e.g. after `Allocator.trim`). */
  clearCache(): void {
    this.#bindGroups.clear();
    bufferIds = new WeakMap();
  }

  #commandEncoder(): GPUCommandEncoder {
    return this.#encoder ??= this.gpu!.device.createCommandEncoder();
  }

  #beginPass(): GPUComputePassEncoder {
    return this.#pass ??= this.#commandEncoder().beginComputePass();
  }

  #endPass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }

  #uniformArena(): GPUBuffer {
    return this.#arena ??= this.gpu!.device.createBuffer({
      label: "uniform-arena",
      size: ARENA_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  #bindGroup(
    spec: KernelSpec,
    layout: GPUBindGroupLayout,
    uniformBytes: number,
    bindings: Record<string, DispatchBinding>,
  ): GPUBindGroup {
    const resources: GPUBufferBinding[] = spec.bindings.map((b) => {
      const x = bindings[b.name];
      if (!x) throw new Error(`kernel '${spec.name}': binding '${b.name}' not given`);
      if (x instanceof GPUTexture) {
        throw new Error(`kernel '${spec.name}': binding '${b.name}' is a buffer, got a texture`);
      }
      if ("tensor" in x) {
        return { buffer: x.tensor.gpu, offset: x.tensor.offset + x.offset, size: x.size };
      }
      return { buffer: x.gpu, offset: x.offset, size: Math.max(4, x.bytes) };
    });
    const textures: GPUTexture[] = (spec.textures ?? []).map((t) => {
      const x = bindings[t.name];
      if (!x) throw new Error(`kernel '${spec.name}': texture '${t.name}' not given`);
      if (!(x instanceof GPUTexture)) {
        throw new Error(`kernel '${spec.name}': binding '${t.name}' is a texture, got a buffer`);
      }
      const format = t.format ?? "rgba32float";
      if (x.format !== format) {
        throw new Error(
          `kernel '${spec.name}': texture '${t.name}' is declared ${format}, got ${x.format}`,
        );
      }
      return x;
    });
    let key = spec.name;
    for (const r of resources) key += `|${bufferId(r.buffer)}:${r.offset}:${r.size}`;
    for (const t of textures) key += `|t${bufferId(t)}`;
    const hit = this.#bindGroups.get(key);
    if (hit) return hit;
    const entries: GPUBindGroupEntry[] = resources.map((resource, binding) => ({
      binding,
      resource,
    }));
    textures.forEach((t, i) => {
      let view = this.#views.get(t);
      if (!view) this.#views.set(t, view = t.createView());
      entries.push({ binding: spec.bindings.length + i, resource: view });
    });
    if (uniformBytes > 0) {
      entries.push({
        binding: uniformBindingOf(spec),
        resource: { buffer: this.#uniformArena(), offset: 0, size: uniformBytes },
      });
    }
    if (this.#bindGroups.size > 8192) this.#bindGroups.clear();
    const group = this.gpu!.device.createBindGroup({ label: spec.name, layout, entries });
    this.#bindGroups.set(key, group);
    return group;
  }
}

/** A scratch texture side rounded up to a size class: exact up to 16, then 8 steps per octave. */
function textureSide(v: number): number {
  if (v <= 16) return v;
  const step = 2 ** Math.floor(Math.log2(v)) / 8;
  return Math.ceil(v / step) * step;
}

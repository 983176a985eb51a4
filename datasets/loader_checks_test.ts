import assert from "node:assert/strict";
import { DatasetError } from "./errors.ts";
import { checkInt, checkStateMatches, stateInt } from "./loader_checks.ts";

Deno.test("checkInt accepts integers at or above the minimum", () => {
  checkInt("B", 1, 1, "");
  assert.throws(() => checkInt("B", 0, 1, "Use B >= 1."), /B must be an integer >= 1, got 0/);
  assert.throws(() => checkInt("T", 2.5, 1, ""), DatasetError);
});

Deno.test("checkStateMatches names the first differing setting", () => {
  checkStateMatches({ kind: "causal", T: 8 }, { kind: "causal", T: 8 });
  assert.throws(
    () => checkStateMatches({ kind: "causal", T: 16 }, { kind: "causal", T: 8 }),
    /checkpoint has T=16 but this run has T=8/,
  );
});

Deno.test("stateInt reads non-negative integers only", () => {
  assert.equal(stateInt({ step: 3 }, "step"), 3);
  assert.throws(() => stateInt({}, "step"), /"step" is undefined/);
  assert.throws(() => stateInt({ step: -1 }, "step"), DatasetError);
});

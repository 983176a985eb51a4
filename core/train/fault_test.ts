import { TempoError } from "../errors.ts";
import { FaultPlan } from "./fault.ts";

Deno.test("TEMPO_FAULT: rules parse; bad ones are refused by name", async () => {
  const plan = FaultPlan.parse("save:model:enospc:3, save:state:enospc,step:2:pause");
  if (plan.rules.length !== 3 || plan.rules[0].step !== 3 || plan.rules[1].step !== undefined) {
    throw new Error(JSON.stringify(plan.rules));
  }
  // A rule with a step fires only at that step, once; a rule without one at the first hit.
  await plan.save("model", 2);
  let fired = 0;
  for (const step of [3, 3]) {
    try {
      await plan.save("model", step);
    } catch (e) {
      if ((e as { code?: string }).code === "ENOSPC") fired++;
    }
  }
  if (fired !== 1) throw new Error(`fired ${fired} times`);
  if (FaultPlan.parse(undefined).rules.length !== 0 || FaultPlan.parse("").rules.length !== 0) {
    throw new Error("empty spec");
  }
  for (
    const [spec, why] of [
      ["save:modle:kill", /unknown save point 'modle'/],
      ["save:model:explode", /unknown action 'explode'/],
      ["step:x:kill", /step 'x' is not an integer/],
      ["step:2:enospc", /save points only/],
      ["load:model:kill", /neither save nor step/],
      ["save:model:kill:2:9", /too many fields/],
    ] as const
  ) {
    let err: unknown;
    try {
      FaultPlan.parse(spec);
    } catch (e) {
      err = e;
    }
    if (!(err instanceof TempoError) || !why.test(err.message)) {
      throw new Error(`${spec}: ${err}`);
    }
  }
});

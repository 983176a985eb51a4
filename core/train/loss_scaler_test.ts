import { TempoError } from "../errors.ts";
import {
  afterGoodStep,
  afterOverflow,
  checkScalerState,
  GRAD_SCALER,
  initialScaler,
} from "./loss_scaler.ts";

Deno.test("loss scaler: GradScaler's growth and backoff, a floor that stops the run", () => {
  let st = initialScaler(GRAD_SCALER);
  if (st.scale !== 65536 || st.goodSteps !== 0) throw new Error(`initial ${JSON.stringify(st)}`);
  for (let i = 0; i < 1999; i++) st = afterGoodStep(GRAD_SCALER, st);
  if (st.scale !== 65536 || st.goodSteps !== 1999) throw new Error(`1999 ${JSON.stringify(st)}`);
  st = afterGoodStep(GRAD_SCALER, st); // the 2000th good step in a row doubles it
  if (st.scale !== 131072 || st.goodSteps !== 0) throw new Error(`2000 ${JSON.stringify(st)}`);
  st = afterGoodStep(GRAD_SCALER, st);
  st = afterOverflow(GRAD_SCALER, st, 7); // halves, and the streak starts over
  if (st.scale !== 65536 || st.goodSteps !== 0) throw new Error(`backoff ${JSON.stringify(st)}`);
  const floor = { ...GRAD_SCALER, minScale: 1 };
  let err = "";
  try {
    afterOverflow(floor, { scale: 1, goodSteps: 3 }, 12);
  } catch (e) {
    err = e instanceof TempoError ? e.message : String(e);
  }
  if (
    !/loss scale collapsed at step 12: .* scale 1, and 0.5 is below --min-loss-scale 1/.test(err)
  ) {
    throw new Error(`collapse: ${err}`);
  }
  if (afterOverflow(floor, { scale: 2, goodSteps: 0 }, 1).scale !== 1) throw new Error("at floor");
  if (checkScalerState({ scale: 8, goodSteps: 2 }, "x").scale !== 8) throw new Error("check");
  for (const bad of [null, { scale: 0, goodSteps: 0 }, { scale: 2, goodSteps: -1 }, "x"]) {
    let threw = false;
    try {
      checkScalerState(bad, "ckpt");
    } catch (e) {
      threw = e instanceof TempoError && /ckpt: the loss scaler's state is damaged/.test(e.message);
    }
    if (!threw) throw new Error(`accepted ${JSON.stringify(bad)}`);
  }
});

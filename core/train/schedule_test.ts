import { learningRate, type Schedule } from "./schedule.ts";

const near = (a: number, b: number, what: string) => {
  if (Math.abs(a - b) > 1e-12) throw new Error(`${what}: ${a} != ${b}`);
};

Deno.test("schedules: warmup, cosine/linear endpoints and midpoint, constant", () => {
  const base: Schedule = { kind: "cosine", lr: 1e-3, minLr: 1e-4, warmup: 10, steps: 110 };
  near(learningRate(base, 0), 1e-4, "warmup start");
  near(learningRate(base, 9), 1e-3, "warmup end");
  near(learningRate(base, 10), 1e-3, "cosine start");
  near(learningRate(base, 60), 1e-4 + 0.9e-3 * 0.5, "cosine midpoint");
  near(learningRate(base, 110), 1e-4, "cosine end");
  near(learningRate({ ...base, kind: "linear" }, 60), 1e-4 + 0.9e-3 * 0.5, "linear midpoint");
  near(learningRate({ ...base, kind: "linear" }, 35), 1e-4 + 0.9e-3 * 0.75, "linear quarter");
  near(learningRate({ ...base, kind: "constant" }, 100), 1e-3, "constant");
});

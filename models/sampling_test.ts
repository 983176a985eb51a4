import { drawUniform, pickToken } from "./sampling.ts";

Deno.test("pickToken: greedy, temperature, top-k and its ties, as nanoGPT's sampler", () => {
  const greedy = { temperature: 0, topK: 0, seed: 0 };
  if (pickToken([1, 3, 3, 2], greedy, 0.9) !== 1) throw new Error("greedy takes the first max");
  // softmax([0, ln 3]) = [1/4, 3/4]: the draw splits at 0.25.
  const t1 = { temperature: 1, topK: 0, seed: 0 };
  const l = [0, Math.log(3)];
  if (pickToken(l, t1, 0.2499) !== 0 || pickToken(l, t1, 0.2501) !== 1) throw new Error("cdf");
  // Temperature 2 flattens to softmax([0, ln 3 / 2]) = [1/(1+sqrt 3), ...] = [0.366, 0.634].
  const t2 = { temperature: 2, topK: 0, seed: 0 };
  if (pickToken(l, t2, 0.36) !== 0 || pickToken(l, t2, 0.37) !== 1) throw new Error("temp");
  // top-k 2 of [5, 1, 5, 4]: the threshold is 5 and both 5s stay; 4 never comes out.
  const k2 = { temperature: 1, topK: 2, seed: 0 };
  const seen = new Set<number>();
  for (let u = 0; u < 1; u += 0.01) seen.add(pickToken([5, 1, 5, 4], k2, u));
  if ([...seen].sort().join() !== "0,2") throw new Error(`top-k kept ${[...seen]}`);
  // top-k 3 keeps 4 too, never 1.
  seen.clear();
  for (let u = 0; u < 1; u += 0.001) seen.add(pickToken([5, 1, 5, 4], { ...k2, topK: 3 }, u));
  if ([...seen].sort().join() !== "0,2,3") throw new Error(`top-k 3 kept ${[...seen]}`);
  if (pickToken([0, 0], t1, 0.9999999999) !== 1) throw new Error("u near 1");
});

Deno.test("drawUniform: in [0, 1), a function of (seed, index) only", () => {
  const a = Array.from({ length: 1000 }, (_, i) => drawUniform(7, i));
  if (a.some((u) => !(u >= 0 && u < 1))) throw new Error("out of range");
  if (drawUniform(7, 5) !== a[5] || drawUniform(8, 5) === a[5]) throw new Error("not keyed");
  const mean = a.reduce((s, u) => s + u, 0) / a.length;
  if (Math.abs(mean - 0.5) > 0.05) throw new Error(`mean ${mean}`);
});

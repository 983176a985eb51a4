/**
 * Plain TypeScript references of the fused softmax cross-entropy and the mean loss (f64).
 * @module
 */

/** Per-row losses and dlogits = scale * (softmax - onehot); ignored rows (target < 0) give 0. */
export function crossEntropyRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  V: number,
  scale: number,
): { losses: Float64Array; grad: Float64Array } {
  const N = targets.length;
  const losses = new Float64Array(N), grad = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    const t = targets[n];
    if (t < 0) continue;
    let m = -Infinity;
    for (let j = 0; j < V; j++) m = Math.max(m, logits[n * V + j]);
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(logits[n * V + j] - m);
    losses[n] = m + Math.log(s) - logits[n * V + t];
    for (let j = 0; j < V; j++) {
      grad[n * V + j] = scale * (Math.exp(logits[n * V + j] - m) / s - (j === t ? 1 : 0));
    }
  }
  return { losses, grad };
}

/** Mean of the losses over targets >= 0 (0 when none), and that count. */
export function meanLossRef(
  losses: ArrayLike<number>,
  targets: ArrayLike<number>,
): [number, number] {
  let s = 0, c = 0;
  for (let n = 0; n < targets.length; n++) {
    if (targets[n] >= 0) {
      s += losses[n];
      c++;
    }
  }
  return [c > 0 ? s / c : 0, c];
}

/** The loss sum(losses) * scale as a function of the logits (for finite differences). */
export function scaledLossRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  V: number,
  scale: number,
): number {
  const { losses } = crossEntropyRef(logits, targets, V, 0);
  let s = 0;
  for (const l of losses) s += l;
  return s * scale;
}

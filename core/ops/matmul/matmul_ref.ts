/**
 * Plain TypeScript reference of `matmul` (f64, simple loops).
 * @module
 */

/** Options of `matmulRef`, as in `MatmulOptions`. */
export interface MatmulRefOptions {
  /** A stored [K,M]. */
  transA?: boolean;
  /** B stored [N,K]. */
  transB?: boolean;
  /** Scale of the product (default 1). */
  alpha?: number;
  /** 0 or 1 (default 0). */
  beta?: number;
  /** Batch count (default 1). */
  batch?: number;
  /** Batch strides in elements (defaults: the matrix sizes). */
  strideA?: number;
  strideB?: number;
  strideC?: number;
}

/**
 * The C tensor after `matmul`: a copy of `c0` (the old contents of C, any length covering the
 * batch) with every [M,N] output replaced by alpha * op(A) @ op(B) + beta * old.
 * With beta 0 the old value is ignored entirely (NaN included).
 */
export function matmulRef(
  c0: ArrayLike<number>,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  opts: MatmulRefOptions = {},
): Float64Array {
  const { transA = false, transB = false, alpha = 1, beta = 0, batch = 1 } = opts;
  const sA = opts.strideA ?? M * K, sB = opts.strideB ?? K * N, sC = opts.strideC ?? M * N;
  const c = Float64Array.from(c0);
  for (let bi = 0; bi < batch; bi++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = a[bi * sA + (transA ? k * M + m : m * K + k)];
          const bv = b[bi * sB + (transB ? n * K + k : k * N + n)];
          s += av * bv;
        }
        const i = bi * sC + m * N + n;
        c[i] = alpha * s + (beta === 0 ? 0 : beta * c[i]);
      }
    }
  }
  return c;
}

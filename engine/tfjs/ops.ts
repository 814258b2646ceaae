import * as tf from '@tensorflow/tfjs';

type GradFn = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
type Forward = (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: GradFn };

/** tf.customGrad with the inputs as an array, which TypeScript can type. */
function custom(forward: Forward): (...inputs: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args.pop() as tf.GradSaveFunc;
    const { value, gradFunc } = forward(args as tf.Tensor[], save);
    return { value, gradFunc: (dy, saved) => gradFunc(dy as tf.Tensor, saved) };
  }) as (...inputs: tf.Tensor[]) => tf.Tensor;
}

/**
 * Layers with hand-written gradients, shaped for the wasm backend: its
 * matMul is fast only without transpose flags (a·bᵀ is ~12× slower, aᵀ·b
 * ~38×, batched ~3× slower than a loop of 2-D products, measured here), and
 * it has no UnsortedSegmentSum, the default gradient of gather. Every
 * product below is a plain a·b after an explicit transpose, and row gathers
 * scatter their gradient with ScatterNd. The same code runs on every backend.
 */

/** x[M,K] · wᵀ + b for a PyTorch-layout weight w[N,K]. `wT` is an optional cached transpose of w. */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D | null, wT?: tf.Tensor2D): tf.Tensor2D {
  const op = custom(([xIn, wIn, bIn], save) => {
    save([xIn, wIn]);
    let y = tf.matMul(xIn as tf.Tensor2D, wT ?? tf.transpose(wIn as tf.Tensor2D));
    if (bIn) y = tf.add(y, bIn);
    return {
      value: y,
      gradFunc: (dy, saved) => {
        const g = dy as tf.Tensor2D;
        const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
        const dx = tf.matMul(g, ws);
        const dw = tf.matMul(tf.transpose(g), xs);
        return bIn ? [dx, dw, tf.sum(g, 0)] : [dx, dw];
      },
    };
  });
  return (b ? op(x, w, b) : op(x, w)) as tf.Tensor2D;
}

/** Plain a[M,K] · b[K,N]; the gradient uses explicit transposes, never transpose flags. */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const op = custom(([aIn, bIn], save) => {
    save([aIn, bIn]);
    return {
      value: tf.matMul(aIn as tf.Tensor2D, bIn as tf.Tensor2D),
      gradFunc: (dy, saved) => {
        const g = dy as tf.Tensor2D;
        const [as, bs] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [tf.matMul(g, tf.transpose(bs)), tf.matMul(tf.transpose(as), g)];
      },
    };
  });
  return op(a, b) as tf.Tensor2D;
}

/** LayerNorm over the last axis of x[M,H], with the textbook closed-form gradient. */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): tf.Tensor2D {
  const op = custom(([xIn, gIn, bIn], save) => {
    const mean = tf.mean(xIn, 1, true);
    const xc = tf.sub(xIn, mean);
    const variance = tf.mean(tf.square(xc), 1, true);
    const rstd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(xc, rstd);
    save([xhat, rstd, gIn]);
    return {
      value: tf.add(tf.mul(xhat, gIn), bIn),
      gradFunc: (dy, saved) => {
        const g = dy as tf.Tensor2D;
        const [xh, rs, gs] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        const dxhat = tf.mul(g, gs);
        const dx = tf.mul(
          rs,
          tf.sub(tf.sub(dxhat, tf.mean(dxhat, 1, true)), tf.mul(xh, tf.mean(tf.mul(dxhat, xh), 1, true))),
        );
        return [dx, tf.sum(tf.mul(g, xh), 0), tf.sum(g, 0)];
      },
    };
  });
  return op(x, gamma, beta) as tf.Tensor2D;
}

/** BERT's GELU, x·Φ(x) with the erf form of Φ. */
export function gelu<T extends tf.Tensor>(x: T): T {
  const op = custom(([xIn], save) => {
    const cdf = tf.mul(tf.add(tf.erf(tf.mul(xIn, Math.SQRT1_2)), 1), 0.5);
    save([xIn, cdf]);
    return {
      value: tf.mul(xIn, cdf),
      gradFunc: (dy, saved) => {
        const [xs, c] = saved as [tf.Tensor, tf.Tensor];
        const pdf = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), 1 / Math.sqrt(2 * Math.PI));
        return [tf.mul(dy as tf.Tensor, tf.add(c, tf.mul(xs, pdf)))];
      },
    };
  });
  return op(x) as T;
}

/**
 * table[ids] for a row table [R,H]; the gradient is scattered (summed) back with ScatterNd.
 * `paddingIdx`: lookups of that row give it no gradient (nn.Embedding's padding_idx).
 */
export function gatherRows(table: tf.Tensor2D, ids: tf.Tensor1D, paddingIdx?: number): tf.Tensor2D {
  const rows = table.shape[0];
  const op = custom(([tIn], save) => {
    // Saved (kept) for the gradient: ids made inside variableGrads' function are disposed before it runs.
    save([ids]);
    return {
      value: tf.gather(tIn, ids),
      gradFunc: (dy, saved) => {
        let g = dy as tf.Tensor2D;
        if (paddingIdx !== undefined) g = tf.mul(g, tf.reshape(tf.cast(tf.notEqual(saved[0]!, paddingIdx), 'float32'), [-1, 1]));
        return [tf.scatterND(tf.reshape(saved[0]!, [-1, 1]), g, [rows, g.shape[1]])];
      },
    };
  });
  return op(table) as tf.Tensor2D;
}

/** Sum over rows of cross-entropy(logits[K,V], labels[K]); gradient softmax − onehot (one exp pass). */
export function crossEntropySum(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const [k, v] = logits.shape;
  const op = custom(([lIn], save) => {
    const max = tf.max(lIn, 1, true);
    const e = tf.exp(tf.sub(lIn, max));
    const sum = tf.sum(e, 1, true);
    const probs = tf.div(e, sum);
    const picked = tf.gatherND(lIn, tf.stack([tf.range(0, k, 1, 'int32'), labels], 1));
    save([probs, labels]);
    return {
      value: tf.sum(tf.sub(tf.reshape(tf.add(tf.log(sum), max), [k]), picked)),
      gradFunc: (dy, saved) => {
        const [p, ys] = saved as [tf.Tensor2D, tf.Tensor1D];
        // int32 oneHot then cast: wasm's OneHot writes int bits into a float32 output.
        return [tf.mul(tf.sub(p, tf.cast(tf.oneHot(ys, v), 'float32')), dy as tf.Scalar)];
      },
    };
  });
  return op(logits) as tf.Scalar;
}

/**
 * torch's cross_entropy(weight=w, label_smoothing=ε, reduction="sum") over
 * logits [B,C] (w all 1 when null): Σᵢ (1−ε)·w[yᵢ]·(−log pᵢ[yᵢ]) + (ε/C)·Σ_c w[c]·(−log pᵢ[c]).
 * Gradient: (1−ε)·w[yᵢ]·(pᵢ − onehot(yᵢ)) + (ε/C)·(Σw·pᵢ − w).
 */
export function classCrossEntropySum(logits: tf.Tensor2D, labels: tf.Tensor1D, weights: tf.Tensor1D | null, smoothing: number): tf.Scalar {
  const [b, c] = logits.shape;
  const w = weights ?? tf.ones([c]);
  const wy = tf.gather(w, labels);
  const op = custom(([lIn], save) => {
    const max = tf.max(lIn, 1, true);
    const shifted = tf.sub(lIn, max);
    const sum = tf.sum(tf.exp(shifted), 1, true);
    const logp = tf.sub(shifted, tf.log(sum));
    const picked = tf.gatherND(logp, tf.stack([tf.range(0, b, 1, 'int32'), labels], 1));
    const nll = tf.neg(tf.sum(tf.mul(wy, picked)));
    const smooth = tf.neg(tf.sum(tf.mul(logp, w)));
    // Everything the gradient reads is saved: tensors made inside variableGrads' function are gone by then.
    save([tf.exp(logp), w, wy, labels]);
    return {
      value: tf.add(tf.mul(nll, 1 - smoothing), tf.mul(smooth, smoothing / c)),
      gradFunc: (dy, saved) => {
        const [p, ws, wys, ys] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        const hard = tf.mul(tf.reshape(wys, [b, 1]), tf.sub(p, tf.cast(tf.oneHot(ys, c), 'float32')));
        const soft = tf.sub(tf.mul(p, tf.sum(ws)), ws);
        return [tf.mul(tf.add(tf.mul(hard, 1 - smoothing), tf.mul(soft, smoothing / c)), dy as tf.Scalar)];
      },
    };
  });
  return op(logits) as tf.Scalar;
}

import * as tf from '@tensorflow/tfjs';
import { dense, dropout, type BertWeights, type DropoutSeed } from './bert.ts';
import { gatherRows } from './ops.ts';

/**
 * BertForSequenceClassification's head over the encoder's hidden states
 * [B*S, H]: the pooler (dense + tanh on each sequence's first token, [CLS]),
 * dropout at `dropoutRate`, the classifier → logits [B, num labels].
 */
export function classifierLogits(
  w: BertWeights,
  hidden: tf.Tensor2D,
  batchSize: number,
  seqLen: number,
  dropoutRate: number,
  seed: DropoutSeed | null,
): tf.Tensor2D {
  const first = gatherRows(hidden, tf.range(0, batchSize * seqLen, seqLen, 'int32') as tf.Tensor1D);
  const pooled = tf.tanh(dense(w, 'bert.pooler.dense', first));
  return dense(w, 'classifier', dropout(pooled, dropoutRate, seed));
}

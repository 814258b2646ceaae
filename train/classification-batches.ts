import type { Examples } from '../data/example-cache.ts';
import type { ClassificationBatch } from '../engine/engine.ts';

/**
 * Classification micro-batches from the example cache: each example is
 * already [CLS] … [SEP] padded to the stage's seq_len; the attention mask
 * covers its real tokens. No masking, no randomness: what rank r reads is
 * SampleOrder's, so 1 rank and N ranks see the same global batches.
 */
export function classificationBatch(ex: Examples, samples: ArrayLike<number>): ClassificationBatch {
  const L = ex.header.seqLen;
  const n = samples.length;
  const batch: ClassificationBatch = {
    batchSize: n,
    seqLen: L,
    inputIds: new Int32Array(n * L),
    tokenTypeIds: new Int32Array(n * L),
    attentionMask: new Int32Array(n * L),
    labels: new Int32Array(n),
  };
  for (let i = 0; i < n; i++) {
    const e = samples[i]!;
    batch.inputIds.set(ex.ids.subarray(e * L, (e + 1) * L), i * L);
    batch.tokenTypeIds!.set(ex.tokenTypes.subarray(e * L, (e + 1) * L), i * L);
    batch.attentionMask.fill(1, i * L, i * L + ex.lengths[e]!);
    batch.labels[i] = ex.labels[e]!;
  }
  return batch;
}

import type { Examples } from '../data/example-cache.ts';
import type { ClassificationLoss, Engine } from '../engine/engine.ts';
import { classificationBatch } from './classification-batches.ts';
import { ConfusionAccumulator, type ClassificationMetrics } from './metrics/classification-metrics.ts';

/**
 * A classifier's validation pass over (up to `maxSamples`) validation
 * examples, in file order, dropout off: the loss the stage trains with
 * (class weights, label smoothing), accuracy, per-label precision/recall/F1,
 * their macro means and the confusion matrix.
 */
export async function evaluateClassifier(
  engine: Engine,
  valid: Examples,
  labels: string[],
  loss: ClassificationLoss,
  o: { microBatch: number; maxSamples: number },
): Promise<ClassificationMetrics> {
  const acc = new ConfusionAccumulator(labels);
  const n = o.maxSamples > 0 ? Math.min(o.maxSamples, valid.header.count) : valid.header.count;
  for (let start = 0; start < n; start += o.microBatch) {
    const samples = Int32Array.from({ length: Math.min(o.microBatch, n - start) }, (_, i) => start + i);
    const batch = classificationBatch(valid, samples);
    const r = await engine.classify(batch, loss);
    acc.add(r.logits, batch.labels, r.lossSum, r.weightSum);
  }
  return acc.result();
}

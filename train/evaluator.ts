import { Rng } from '../common/rng.ts';
import type { BlockDataset } from '../data/blocks.ts';
import { maskTokens, type MaskingOptions } from '../data/masking.ts';
import type { Engine, MlmBatch } from '../engine/engine.ts';
import { MetricsAccumulator, type MlmMetrics } from './metrics/mlm-metrics.ts';
import { mixSeed } from './sample-order.ts';

/**
 * Validation pass over (up to `maxSamples`) validation blocks, dropout off.
 * The masks are fixed per block (seeded by the run seed and block index), so
 * successive evaluations score the same task and are comparable.
 */
export async function evaluate(
  engine: Engine,
  blocks: BlockDataset,
  masking: MaskingOptions,
  o: { seed: number; microBatch: number; maxSamples: number },
): Promise<MlmMetrics> {
  const acc = new MetricsAccumulator();
  const n = o.maxSamples > 0 ? Math.min(o.maxSamples, blocks.length) : blocks.length;
  const L = blocks.seqLen;
  const ws = new Uint8Array(L);
  for (let start = 0; start < n; start += o.microBatch) {
    const b = Math.min(o.microBatch, n - start);
    const batch: MlmBatch = {
      batchSize: b,
      seqLen: L,
      inputIds: new Int32Array(b * L),
      attentionMask: new Int32Array(b * L),
      labels: new Int32Array(b * L),
    };
    for (let i = 0; i < b; i++) {
      const ids = batch.inputIds.subarray(i * L, (i + 1) * L);
      blocks.read(start + i, ids, ws, batch.attentionMask.subarray(i * L, (i + 1) * L));
      maskTokens(ids, ws, batch.labels.subarray(i * L, (i + 1) * L), masking, new Rng(mixSeed(o.seed, 0xe7a1, start + i)));
    }
    acc.add(await engine.evaluate(batch));
  }
  return acc.result();
}

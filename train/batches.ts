import { Rng } from '../common/rng.ts';
import type { BlockDataset } from '../data/blocks.ts';
import { maskTokens, type MaskingOptions } from '../data/masking.ts';
import type { MlmBatch } from '../engine/engine.ts';
import { mixSeed } from './sample-order.ts';

/**
 * Assembles masked micro-batches from blocks. Each sample's mask is drawn
 * from its own seed (run seed, stage, epoch, sample index), so it does not
 * depend on which rank reads it or on what was read before: resumes and
 * different world sizes see the same masks.
 */
export class BatchBuilder {
  private readonly wordStarts: Uint8Array;

  constructor(
    private readonly blocks: BlockDataset,
    private readonly masking: MaskingOptions,
    private readonly seed: number,
  ) {
    this.wordStarts = new Uint8Array(blocks.seqLen);
  }

  build(samples: ArrayLike<number>, stage: number, epoch: number): MlmBatch {
    const L = this.blocks.seqLen;
    const n = samples.length;
    const inputIds = new Int32Array(n * L);
    const attentionMask = new Int32Array(n * L);
    const labels = new Int32Array(n * L);
    for (let i = 0; i < n; i++) {
      const ids = inputIds.subarray(i * L, (i + 1) * L);
      this.blocks.read(samples[i]!, ids, this.wordStarts, attentionMask.subarray(i * L, (i + 1) * L));
      maskTokens(ids, this.wordStarts, labels.subarray(i * L, (i + 1) * L), this.masking, new Rng(mixSeed(this.seed, stage, epoch, samples[i]!)));
    }
    return { batchSize: n, seqLen: L, inputIds, attentionMask, labels };
  }
}

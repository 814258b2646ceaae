import { Rng } from '../common/rng.ts';
import type { StagePlan } from '../spec/plan-stages.ts';

/**
 * Which samples rank r reads for its m-th micro-batch of a stage.
 *
 * Every epoch has one order over all samples (a seeded permutation, the same
 * on every rank). Micro-batch slot j of the epoch covers positions
 * [j·W·μ, (j+1)·W·μ) of that order, and rank r takes its contiguous μ of them.
 * An optimizer step is `accumulation` consecutive slots, so the global batch
 * of step k is the same set of samples for any world size: 1 rank with
 * accumulation 16 and 2 ranks with 8 train on identical batches, which is
 * what makes 1 ≡ N testable. The positions past W·μ·slots (the dropped
 * samples) change from epoch to epoch with the shuffle.
 */
export class SampleOrder {
  private epoch = -1;
  private order: Int32Array = new Int32Array(0);

  constructor(
    private readonly plan: StagePlan,
    private readonly seed: number,
    private readonly rank: number,
  ) {}

  /** Sample indices of this rank's micro-batch number `m` (counted from the stage start). */
  microBatch(m: number): { epoch: number; samples: Int32Array } {
    const p = this.plan;
    const epoch = Math.floor(m / p.microBatchesPerEpoch);
    const slot = m % p.microBatchesPerEpoch;
    if (epoch !== this.epoch) {
      this.order = Int32Array.from({ length: p.totalSamples }, (_, i) => i);
      new Rng(mixSeed(this.seed, p.stage, epoch)).shuffle(this.order);
      this.epoch = epoch;
    }
    const start = slot * p.worldSize * p.microBatch + this.rank * p.microBatch;
    return { epoch, samples: this.order.subarray(start, start + p.microBatch) };
  }
}

/** Mixes integers into one 32-bit seed (order-sensitive). */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  }
  return h >>> 0;
}

import type { Engine } from '../engine/engine.ts';
import type { EvalMetrics } from './metrics/eval-metrics.ts';

/**
 * What differs between an MLM stage and a classification stage, behind one
 * surface the loop uses: a micro-batch's forward/backward on this rank and
 * the validation pass. Everything else (plans, sample order, accumulation,
 * all-reduce, AdamW, checkpoints, early stopping) is the same.
 */
export interface StageTask {
  /**
   * Forward/backward of this rank's micro-batch (gradients accumulate):
   * the summed loss, what the global mean divides it by (masked tokens, or
   * the class weights of the labels), the real tokens read, and the seconds
   * spent building the batch (the step report's data time).
   */
  microStep(engine: Engine, samples: Int32Array, epoch: number): Promise<{ lossSum: number; count: number; tokens: number; dataSeconds: number }>;
  /** Rank 0's validation pass, dropout off. */
  evaluate(engine: Engine): Promise<EvalMetrics>;
  /** Training samples (blocks or examples): what the plan was made for. */
  readonly samples: number;
  /** What the loss chooses among (the vocabulary, or the labels): ln of it is an untrained model's loss. */
  readonly numClasses: number;
}

/** Real (unpadded) tokens of a batch, for the tokens/s figure. */
export function realTokens(batch: { attentionMask: Int32Array }): number {
  let n = 0;
  for (let i = 0; i < batch.attentionMask.length; i++) n += batch.attentionMask[i]!;
  return n;
}

import type { EvalResult } from '../../engine/engine.ts';

/**
 * Evaluation metrics over a whole validation pass, accumulated batch by batch
 * (the fields of gradpool.v1.EvalMetrics, so they travel as they are;
 * protocol/messages.ts' EvalMetricsJson is the same shape):
 *   loss            mean cross-entropy over masked tokens
 *   perplexity      exp(loss)
 *   masked_accuracy argmax = original token, over masked tokens
 *   top10_accuracy  original token among the 10 best, over masked tokens
 *   all_tokens_accuracy  argmax = original token over every non-pad position
 *                   (masked or not: how well the model reproduces its input)
 *   f1              macro F1 over the token classes that occur as labels at
 *                   masked positions: per class, precision over the masked
 *                   positions predicted as it, recall over those labelled
 *                   with it; classes only ever predicted count in precision
 *                   of nothing (they are not averaged), as sklearn's
 *                   f1_score(labels=classes present in y_true, average="macro").
 */
export interface MlmMetrics {
  task: 'mlm';
  loss: number;
  perplexity: number;
  masked_accuracy: number;
  top10_accuracy: number;
  all_tokens_accuracy: number;
  f1: number;
  masked_tokens: number;
}

export class MetricsAccumulator {
  private lossSum = 0;
  private masked = 0;
  private correct = 0;
  private top10 = 0;
  private allCorrect = 0;
  private allCount = 0;
  private readonly truePos = new Map<number, number>();
  private readonly labelCount = new Map<number, number>();
  private readonly predCount = new Map<number, number>();

  add(r: EvalResult): void {
    this.lossSum += r.lossSum;
    this.masked += r.maskedTokens;
    this.allCorrect += r.allTokensCorrect;
    this.allCount += r.allTokensCount;
    for (let i = 0; i < r.labels.length; i++) {
      const y = r.labels[i]!;
      const p = r.top1[i]!;
      this.labelCount.set(y, (this.labelCount.get(y) ?? 0) + 1);
      this.predCount.set(p, (this.predCount.get(p) ?? 0) + 1);
      if (y === p) {
        this.correct++;
        this.truePos.set(y, (this.truePos.get(y) ?? 0) + 1);
      }
      this.top10 += r.top10Hit[i]!;
    }
  }

  result(): MlmMetrics {
    const loss = this.masked ? this.lossSum / this.masked : NaN;
    let f1Sum = 0;
    for (const [cls, support] of this.labelCount) {
      const tp = this.truePos.get(cls) ?? 0;
      const predicted = this.predCount.get(cls) ?? 0;
      const precision = predicted ? tp / predicted : 0;
      const recall = tp / support;
      f1Sum += precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    }
    return {
      task: 'mlm',
      loss,
      perplexity: Math.exp(loss),
      masked_accuracy: this.masked ? this.correct / this.masked : NaN,
      top10_accuracy: this.masked ? this.top10 / this.masked : NaN,
      all_tokens_accuracy: this.allCount ? this.allCorrect / this.allCount : NaN,
      f1: this.labelCount.size ? f1Sum / this.labelCount.size : NaN,
      masked_tokens: this.masked,
    };
  }
}

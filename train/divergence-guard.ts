import type { DivergenceSpec } from '../spec/job-spec.ts';

/** Steps seen before the guard judges: the first losses of a run fall fast and say nothing about a median. */
const MIN_HISTORY = 10;

/**
 * Watches the training loss for divergence (DivergenceSpec): a loss above
 * `factor` × the median of recent losses for `patience` steps in a row.
 * Until enough steps are seen, the reference is the loss of a uniform guess
 * (ln of the number of classes: what an untrained model scores), so a run
 * that explodes in its first steps is caught too. Every rank sees the same
 * all-reduced loss, so every rank reaches the same verdict at the same step
 * without a message. Losses judged too high do not enter the history, so a
 * spike cannot raise its own threshold.
 */
export class DivergenceGuard {
  private recent: number[] = [];
  private over = 0;

  constructor(
    private readonly o: DivergenceSpec,
    private readonly uniformLoss: number,
  ) {}

  /** True while losses are above the threshold (not yet for `patience` steps): no checkpoint should hold them. */
  get suspicious(): boolean {
    return this.over > 0;
  }

  /** Records a step's loss; returns why the run diverged, or null. */
  observe(loss: number): string | null {
    const median = this.recent.length >= MIN_HISTORY ? medianOf(this.recent) : null;
    const reference = median ?? this.uniformLoss;
    if (loss > this.o.factor * reference) {
      this.over++;
      if (this.over < this.o.patience) return null;
      const what = median !== null ? 'its recent median' : 'the loss of a uniform guess';
      return `the training loss (${loss.toPrecision(4)}) stayed above ${this.o.factor} × ${what} (${reference.toPrecision(4)}) for ${this.over} steps`;
    }
    this.over = 0;
    this.recent.push(loss);
    if (this.recent.length > this.o.window) this.recent.shift();
    return null;
  }

  /** A new stage (other lengths, a fresh optimizer) or a rollback: judge from a fresh history. */
  reset(): void {
    this.recent = [];
    this.over = 0;
  }
}

/** Why an evaluation says the run diverged, or null: not finite, or far above the best loss seen. */
export function evaluationDiverged(loss: number, lowest: number | undefined, factor: number): string | null {
  if (!Number.isFinite(loss)) return `the evaluation loss is ${loss}`;
  if (lowest !== undefined && loss > factor * lowest) {
    return `the evaluation loss (${loss.toPrecision(4)}) is above ${factor} × the lowest so far (${lowest.toPrecision(4)})`;
  }
  return null;
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

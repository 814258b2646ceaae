/**
 * A classification stage's evaluation over its whole validation split (the
 * fields of gradpool.v1.EvalMetrics for task "classification", so they
 * travel as they are):
 *   loss             the training loss (class weights, label smoothing) over
 *                    the validation examples: Σ loss / Σ weight of their labels
 *   accuracy         argmax = label
 *   per_class        precision (over the examples predicted as the label; 0
 *                    when it never was), recall (over those labelled with it),
 *                    F1, support
 *   macro_*          unweighted means over the labels that occur as a label or
 *                    a prediction (scikit-learn's average="macro" with its
 *                    default labels and zero_division=0)
 *   confusion_matrix one row per true label: counts per predicted label, in
 *                    `labels` order
 */
export interface ClassMetrics {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ClassificationMetrics {
  task: 'classification';
  loss: number;
  accuracy: number;
  macro_f1: number;
  macro_precision: number;
  macro_recall: number;
  examples: number;
  labels: string[];
  per_class: ClassMetrics[];
  confusion_matrix: Array<{ label: string; predicted: number[] }>;
}

export class ConfusionAccumulator {
  private lossSum = 0;
  private weightSum = 0;
  /** counts[true][predicted] */
  private readonly counts: number[][];

  constructor(private readonly labels: string[]) {
    this.counts = labels.map(() => new Array<number>(labels.length).fill(0));
  }

  /** A batch: its logits [n × labels], label ids, and its loss sum and weight sum. */
  add(logits: Float32Array, truth: Int32Array, lossSum: number, weightSum: number): void {
    const c = this.labels.length;
    for (let i = 0; i < truth.length; i++) this.counts[truth[i]!]![argmax(logits, i * c, c)]!++;
    this.lossSum += lossSum;
    this.weightSum += weightSum;
  }

  result(): ClassificationMetrics {
    return classificationMetrics(this.labels, this.counts, this.weightSum ? this.lossSum / this.weightSum : NaN);
  }
}

/** Metrics from a confusion matrix (counts[true][predicted]) and the mean loss. */
export function classificationMetrics(labels: string[], counts: number[][], loss: number): ClassificationMetrics {
  const n = labels.length;
  const support = counts.map((row) => row.reduce((a, b) => a + b, 0));
  const predicted = labels.map((_, j) => counts.reduce((a, row) => a + row[j]!, 0));
  const total = support.reduce((a, b) => a + b, 0);
  let correct = 0;
  const perClass = labels.map((label, k) => {
    const tp = counts[k]![k]!;
    correct += tp;
    const precision = predicted[k] ? tp / predicted[k]! : 0;
    const recall = support[k] ? tp / support[k]! : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    return { label, precision, recall, f1, support: support[k]! };
  });
  const present = perClass.filter((_, k) => support[k]! > 0 || predicted[k]! > 0);
  const mean = (key: 'precision' | 'recall' | 'f1') => (present.length ? present.reduce((a, m) => a + m[key], 0) / present.length : NaN);
  return {
    task: 'classification',
    loss,
    accuracy: total ? correct / total : NaN,
    macro_f1: mean('f1'),
    macro_precision: mean('precision'),
    macro_recall: mean('recall'),
    examples: total,
    labels,
    per_class: perClass,
    confusion_matrix: labels.slice(0, n).map((label, k) => ({ label, predicted: [...counts[k]!] })),
  };
}

function argmax(a: Float32Array, start: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[start + j]! > a[start + best]!) best = j;
  return best;
}

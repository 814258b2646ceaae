import { PER_LABEL_METRIC, type MetricName } from '../../spec/classification-spec.ts';
import type { ClassificationMetrics } from './classification-metrics.ts';
import type { MlmMetrics } from './mlm-metrics.ts';

/** One evaluation of either task (gradpool.v1.EvalMetrics; `task` tells them apart). */
export type EvalMetrics = MlmMetrics | ClassificationMetrics;

/** The value early stopping judges: a scalar of the metrics, or one label's precision/recall/F1. */
export function metricValue(m: EvalMetrics, name: MetricName): number {
  const perLabel = PER_LABEL_METRIC.exec(name);
  if (perLabel && m.task === 'classification') {
    const c = m.per_class.find((x) => x.label === perLabel[2]);
    if (!c) throw new Error(`early stopping metric ${name}: no label ${JSON.stringify(perLabel[2])} (labels: ${m.labels.join(', ')})`);
    return c[perLabel[1] as 'precision' | 'recall' | 'f1'];
  }
  const v = (m as unknown as Record<string, unknown>)[name];
  if (typeof v !== 'number') throw new Error(`early stopping metric ${name} is not a metric of ${m.task} evaluations`);
  return v;
}

/** TensorBoard scalars `eval/<name>` (per label: eval/precision/<label>, …). */
export function evalScalars(m: EvalMetrics): Record<string, number> {
  if (m.task === 'mlm') {
    const { task: _, ...scalars } = m;
    return Object.fromEntries(Object.entries(scalars).map(([k, v]) => [`eval/${k}`, v]));
  }
  const out: Record<string, number> = {
    'eval/loss': m.loss,
    'eval/accuracy': m.accuracy,
    'eval/macro_f1': m.macro_f1,
    'eval/macro_precision': m.macro_precision,
    'eval/macro_recall': m.macro_recall,
  };
  for (const c of m.per_class) for (const k of ['precision', 'recall', 'f1'] as const) out[`eval/${k}/${c.label}`] = c[k];
  return out;
}

/** The evaluation for people: one line, and for a classifier the per-label table with the confusion matrix. */
export function describeEval(m: EvalMetrics): string {
  if (m.task === 'mlm') {
    return (
      `loss ${m.loss.toFixed(4)} ppl ${m.perplexity.toFixed(2)} acc ${pct(m.masked_accuracy)} top10 ${pct(m.top10_accuracy)} ` +
      `all-tokens ${pct(m.all_tokens_accuracy)} F1 ${m.f1.toFixed(4)}`
    );
  }
  return `loss ${m.loss.toFixed(4)} accuracy ${pct(m.accuracy)} macro-F1 ${m.macro_f1.toFixed(4)} (${m.examples} examples)\n${confusionTable(m)}`;
}

/** Per label: precision, recall, F1, support, then the confusion matrix row (true label × predicted). */
export function confusionTable(m: ClassificationMetrics): string {
  const w = Math.max(5, ...m.labels.map((l) => l.length));
  const cw = Math.max(6, ...m.labels.map((l) => l.length));
  const head = `  ${'label'.padEnd(w)}  precision  recall  f1      support  | predicted: ${m.labels.map((l) => l.padStart(cw)).join(' ')}`;
  const rows = m.per_class.map((c, k) => {
    const counts = m.confusion_matrix[k]!.predicted.map((n) => String(n).padStart(cw)).join(' ');
    return `  ${c.label.padEnd(w)}  ${c.precision.toFixed(4).padEnd(9)}  ${c.recall.toFixed(4)}  ${c.f1.toFixed(4)}  ${String(c.support).padStart(7)}  |            ${counts}`;
  });
  return [head, ...rows].join('\n');
}

/** The confusion matrix as a markdown table (rows: true label, columns: predicted), for TensorBoard's Text tab. */
export function confusionMarkdown(m: ClassificationMetrics): string {
  const head = `| true \\ predicted | ${m.labels.join(' | ')} | recall |`;
  const rule = `|${' --- |'.repeat(m.labels.length + 2)}`;
  const rows = m.confusion_matrix.map((r, k) => `| **${r.label}** | ${r.predicted.join(' | ')} | ${m.per_class[k]!.recall.toFixed(4)} |`);
  const precision = `| precision | ${m.per_class.map((c) => c.precision.toFixed(4)).join(' | ')} | |`;
  return [head, rule, ...rows, precision].join('\n');
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

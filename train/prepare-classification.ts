import { prepareLabelledData } from '../data/labelled-dataset.ts';
import type { Tokenizer } from '../data/tokenizer/tokenizer.ts';
import { PER_LABEL_METRIC } from '../spec/classification-spec.ts';
import type { Job, StageSpec } from '../spec/job-spec.ts';
import type { ClassificationData } from './run-spec.ts';

/**
 * Every classification stage's labelled data (read, checked, split,
 * tokenized at the stage's seq_len, cached), its class weights, and a check
 * that a per-label early-stopping metric names one of its labels.
 */
export async function prepareClassification(job: Job, tokenizer: Tokenizer, log: (l: string) => void): Promise<Array<ClassificationData | null>> {
  const out: Array<ClassificationData | null> = [];
  for (const [i, s] of job.stages.entries()) {
    if (s.task !== 'classification') {
      out.push(null);
      continue;
    }
    const where = `stages[${i}].labels`;
    const d = await prepareLabelledData({ spec: s.labels!, where, tokenizer, seqLen: s.seq_len, cacheDir: job.corpus.cache_dir, seed: job.seed, log });
    checkLabelMetric(s, job, i, d.labels);
    out.push({
      labels: d.labels,
      trainCache: d.train.path,
      validCache: d.valid.path,
      cacheKey: d.key,
      trainPerLabel: d.train.perLabel,
      validPerLabel: d.valid.perLabel,
      classWeights: classWeights(s, i, d.labels, d.train.perLabel),
    });
  }
  return out;
}

/** Given weights, or scikit-learn's "balanced" n / (labels × count) from the training split; null = all 1. */
function classWeights(s: StageSpec, i: number, labels: string[], perLabel: number[]): number[] | null {
  if (s.class_weights.values.length) return s.class_weights.values;
  if (!s.class_weights.balanced) return null;
  const n = perLabel.reduce((a, b) => a + b, 0);
  const empty = labels.filter((_, k) => perLabel[k] === 0);
  if (empty.length) throw new Error(`stages[${i}].class_weights: balanced weights need training examples of every label; none of ${empty.join(', ')}`);
  return perLabel.map((c) => n / (labels.length * c));
}

function checkLabelMetric(s: StageSpec, job: Job, i: number, labels: string[]): void {
  const metric = (s.early_stopping ?? job.early_stopping).metric;
  const m = PER_LABEL_METRIC.exec(metric);
  if (!m || labels.includes(m[2]!)) return;
  const where = s.early_stopping ? `stages[${i}].early_stopping.metric` : 'early_stopping.metric';
  throw new Error(`${where}: ${metric}: no label ${JSON.stringify(m[2])} in stages[${i}]'s data (labels: ${labels.join(', ')})`);
}

import { accessSync, constants, statSync } from 'node:fs';
import {
  CLASSIFICATION_METRICS,
  isMetricOf,
  LABELLED_DATA_DEFAULTS,
  MLM_METRICS,
  PER_LABEL_METRIC,
  STAGE_TASKS,
  type ClassWeightsSpec,
  type LabelledDataSpec,
  type MetricName,
  type StageTask,
} from './classification-spec.ts';
import { fraction, nonNegInt, positiveInt, shown, type Obj, type Reader } from './field-reader.ts';
import type { EarlyStoppingSpec, StageSpec } from './job-spec.ts';

/** The stage fields that only mean something for one task, and their defaults. */
export const TASK_STAGE_KEYS = ['task', 'labels', 'class_weights', 'label_smoothing', 'classifier_dropout', 'early_stopping'];
const LABELLED_KEYS = ['train', ...Object.keys(LABELLED_DATA_DEFAULTS)];
const LABELLED_FORMATS = /\.(csv|tsv|jsonl|json|ndjson)(\.gz)?$/i;

/** The task fields of a stage at `path` (relative file paths resolved by `at`). */
export function readStageTask(r: Reader, o: Obj, path: string, at: (p: string) => string) {
  const task = r.oneOf(o, 'task', path, 'mlm', STAGE_TASKS) as StageTask;
  const smoothing = r.num(o, 'label_smoothing', path, 0, fraction);
  const dropoutRaw = o.classifier_dropout;
  return {
    task,
    labels: o.labels === undefined || o.labels === null ? null : readLabelledData(r, o.labels, `${path}.labels`, at),
    class_weights: readClassWeights(r, o.class_weights, `${path}.class_weights`),
    label_smoothing: smoothing,
    classifier_dropout: dropoutRaw === undefined || dropoutRaw === null ? null : r.num(o, 'classifier_dropout', path, 0, fraction),
    early_stopping: o.early_stopping === undefined || o.early_stopping === null ? null : readEarlyStopping(r, o.early_stopping, `${path}.early_stopping`),
  };
}

/** What does not fit the stage's task: labels on an MLM stage, masking on a classification stage, weights of the wrong count. */
export function checkStageTask(r: Reader, s: StageSpec, path: string): void {
  if (s.task === 'mlm') {
    const clsOnly: Array<[string, boolean]> = [
      ['labels', s.labels !== null],
      ['class_weights', s.class_weights.balanced || s.class_weights.values.length > 0],
      ['label_smoothing', s.label_smoothing !== 0],
      ['classifier_dropout', s.classifier_dropout !== null],
    ];
    for (const [k, set] of clsOnly) if (set) r.problems.push(`${path}.${k}: only for task: classification (this stage is mlm)`);
    return;
  }
  if (s.mlm_probability !== 0.15) r.problems.push(`${path}.mlm_probability: only for task: mlm (this stage is classification)`);
  if (s.whole_word_mask) r.problems.push(`${path}.whole_word_mask: only for task: mlm (this stage is classification)`);
  if (!s.labels) {
    r.problems.push(`${path}.labels: required for task: classification (train files, text_field, label_field)`);
    return;
  }
  const w = s.class_weights;
  if (w.values.length > 0) {
    if (w.balanced) r.problems.push(`${path}.class_weights: give balanced or values, not both`);
    if (s.labels.names.length === 0) {
      r.problems.push(`${path}.class_weights.values: give ${path}.labels.names too, so the order of the weights is explicit`);
    } else if (w.values.length !== s.labels.names.length) {
      r.problems.push(`${path}.class_weights.values: ${w.values.length} weights for ${s.labels.names.length} labels (${s.labels.names.join(', ')})`);
    }
  }
}

/**
 * The early stopping in force for each stage (its own, else the job's) must
 * name a metric its task reports.
 */
export function checkStageMetrics(r: Reader, stages: StageSpec[], job: EarlyStoppingSpec): void {
  stages.forEach((s, i) => {
    const es = s.early_stopping ?? job;
    const where = s.early_stopping ? `stages[${i}].early_stopping.metric` : 'early_stopping.metric';
    if (isMetricOf(s.task, es.metric)) {
      if (s.labels?.names.length) checkLabelMetric(r, es.metric, s.labels.names, where);
      return;
    }
    const known = s.task === 'mlm' ? MLM_METRICS.join(', ') : `${CLASSIFICATION_METRICS.join(', ')}, precision/<label>, recall/<label>, f1/<label>`;
    const hint = s.early_stopping ? '' : `; give stages[${i}] an early_stopping of its own`;
    r.problems.push(`${where}: ${es.metric} is not a metric of ${s.task} stages like stages[${i}] (${known})${hint}`);
  });
}

function checkLabelMetric(r: Reader, metric: string, names: string[], where: string): void {
  const m = PER_LABEL_METRIC.exec(metric);
  if (m && !names.includes(m[2]!)) r.problems.push(`${where}: no label ${JSON.stringify(m[2])} (labels: ${names.join(', ')})`);
}

/** An MLM stage needs the MLM head a classification stage has replaced. */
export function checkStageOrder(r: Reader, stages: StageSpec[]): void {
  const firstCls = stages.findIndex((s) => s.task === 'classification');
  if (firstCls < 0) return;
  stages.forEach((s, i) => {
    if (i > firstCls && s.task === 'mlm') r.problems.push(`stages[${i}].task: an mlm stage cannot follow the classification stage stages[${firstCls}] (put MLM stages first)`);
  });
}

export function readEarlyStopping(r: Reader, raw: unknown, path: string): EarlyStoppingSpec {
  const e = r.obj(raw, path);
  r.unknownKeys(e, path, ['metric', 'patience', 'target']);
  const metric = r.str(e, 'metric', path, 'loss');
  if (!isMetricOf('mlm', metric) && !isMetricOf('classification', metric)) {
    r.problems.push(
      `${path}.metric: must be one of ${[...new Set([...MLM_METRICS, ...CLASSIFICATION_METRICS])].join(', ')}, ` +
        `precision/<label>, recall/<label>, f1/<label>, got ${JSON.stringify(metric)}`,
    );
  }
  const targetRaw = e.target;
  return {
    metric: metric as MetricName,
    patience: r.num(e, 'patience', path, 0, nonNegInt),
    target: targetRaw === undefined || targetRaw === null ? null : r.num(e, 'target', path, 0, () => null),
  };
}

function readLabelledData(r: Reader, raw: unknown, path: string, at: (p: string) => string): LabelledDataSpec {
  const o = r.obj(raw, path);
  r.unknownKeys(o, path, LABELLED_KEYS);
  const d = LABELLED_DATA_DEFAULTS;
  const spec: LabelledDataSpec = {
    train: r.strList(o, 'train', path).map(at),
    valid: r.strList(o, 'valid', path).map(at),
    valid_ratio: r.num(o, 'valid_ratio', path, d.valid_ratio, fraction),
    text_field: r.str(o, 'text_field', path, d.text_field),
    text_pair_field: r.str(o, 'text_pair_field', path, d.text_pair_field),
    label_field: r.str(o, 'label_field', path, d.label_field),
    names: r.strList(o, 'names', path),
    max_chars: r.num(o, 'max_chars', path, d.max_chars, positiveInt),
    max_bad_fraction: r.num(o, 'max_bad_fraction', path, d.max_bad_fraction, fraction),
  };
  if (spec.train.length === 0) r.problems.push(`${path}.train: required (one or more .csv/.tsv/.jsonl files)`);
  if (spec.valid.length === 0 && spec.valid_ratio === 0) r.problems.push(`${path}: give valid files or a valid_ratio > 0`);
  for (const k of ['text_field', 'label_field'] as const) if (!spec[k]) r.problems.push(`${path}.${k}: must not be empty`);
  if (spec.text_pair_field && [spec.text_field, spec.label_field].includes(spec.text_pair_field)) {
    r.problems.push(`${path}.text_pair_field: ${JSON.stringify(spec.text_pair_field)} is already the text or the label field`);
  }
  if (spec.text_field && spec.text_field === spec.label_field) r.problems.push(`${path}.label_field: the same field as text_field`);
  const dup = spec.names.find((n, i) => spec.names.indexOf(n) !== i);
  if (dup !== undefined) r.problems.push(`${path}.names: ${JSON.stringify(dup)} is listed twice`);
  if (spec.names.length === 1) r.problems.push(`${path}.names: a classifier needs two labels or more`);
  spec.train.forEach((f, i) => checkReadable(r, f, `${path}.train[${i}]`));
  spec.valid.forEach((f, i) => checkReadable(r, f, `${path}.valid[${i}]`));
  return spec;
}

function readClassWeights(r: Reader, raw: unknown, path: string): ClassWeightsSpec {
  // Job-file shorthands: `class_weights: balanced` and `class_weights: [1, 3.5]`.
  if (raw === 'balanced') return { balanced: true, values: [] };
  const o = Array.isArray(raw) ? { values: raw } : typeof raw === 'string' ? null : r.obj(raw, path);
  if (o === null) {
    r.problems.push(`${path}: must be "balanced", a list of weights or { balanced, values }, got ${shown(raw)}`);
    return { balanced: false, values: [] };
  }
  r.unknownKeys(o, path, ['balanced', 'values']);
  const values = o.values ?? [];
  const ok = Array.isArray(values) && values.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0);
  if (!ok) r.problems.push(`${path}.values: must be a list of numbers ≥ 0, got ${shown(values)}`);
  else if (values.length && values.every((v) => v === 0)) r.problems.push(`${path}.values: at least one weight must be > 0`);
  return { balanced: r.bool(o, 'balanced', path, false), values: ok ? (values as number[]) : [] };
}

/** A labelled file must exist, be a readable file, and have a format the reader knows. */
function checkReadable(r: Reader, file: string, path: string): void {
  if (!LABELLED_FORMATS.test(file)) {
    r.problems.push(`${path}: ${file}: unknown format (use .csv, .tsv or .jsonl, optionally .gz)`);
    return;
  }
  try {
    if (!statSync(file).isFile()) {
      r.problems.push(`${path}: ${file} is not a file`);
      return;
    }
    accessSync(file, constants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    r.problems.push(`${path}: ${file} ${code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : (e as Error).message}`);
  }
}

/**
 * What a `task: classification` stage adds to a stage: its labelled data,
 * how the loss weighs the classes, and the metrics it is judged by. The
 * encoder comes from the stages before it; the stage trains Hugging Face's
 * BertForSequenceClassification (pooler + classifier on [CLS]).
 */
export type StageTask = 'mlm' | 'classification';
export const STAGE_TASKS: readonly StageTask[] = ['mlm', 'classification'];

export interface LabelledDataSpec {
  /** Training files: .csv, .tsv or .jsonl (optionally .gz), one example a row. */
  train: string[];
  /** Validation files; when empty, `valid_ratio` of the training examples, stratified by label. */
  valid: string[];
  /** Default 0.1. */
  valid_ratio: number;
  /** Column (.csv/.tsv) or JSON field (.jsonl) holding the text; default "text". */
  text_field: string;
  /** A second text per example (sentence pairs: [CLS] a [SEP] b [SEP]); "" = none. */
  text_pair_field: string;
  /** Column or field holding the label; default "label". */
  label_field: string;
  /** The labels in id order; empty = those found in the training files, sorted. Given: others are bad rows. */
  names: string[];
  /** Longer texts are bad rows; default 100,000 characters. */
  max_chars: number;
  /** Above this fraction of bad rows in a file the job stops, naming the file and the rows; default 0.01. */
  max_bad_fraction: number;
}

export const LABELLED_DATA_DEFAULTS: Omit<LabelledDataSpec, 'train'> = {
  valid: [],
  valid_ratio: 0.1,
  text_field: 'text',
  text_pair_field: '',
  label_field: 'label',
  names: [],
  max_chars: 100_000,
  max_bad_fraction: 0.01,
};

export interface ClassWeightsSpec {
  /** scikit-learn's "balanced": n_examples / (n_labels × examples of the label), over the training split. */
  balanced: boolean;
  /** One weight per label in label id order (labels.names); empty = all 1. */
  values: number[];
}

export type MlmMetricName = 'loss' | 'perplexity' | 'masked_accuracy' | 'top10_accuracy' | 'all_tokens_accuracy' | 'f1';
export type ClassificationMetricName = 'loss' | 'accuracy' | 'macro_f1' | 'macro_precision' | 'macro_recall';
/** A scalar metric, or one label's `precision/<label>`, `recall/<label>`, `f1/<label>` (classification). */
export type MetricName = MlmMetricName | ClassificationMetricName | `${'precision' | 'recall' | 'f1'}/${string}`;

export const MLM_METRICS: readonly MlmMetricName[] = ['loss', 'perplexity', 'masked_accuracy', 'top10_accuracy', 'all_tokens_accuracy', 'f1'];
export const CLASSIFICATION_METRICS: readonly ClassificationMetricName[] = ['loss', 'accuracy', 'macro_f1', 'macro_precision', 'macro_recall'];
export const PER_LABEL_METRIC = /^(precision|recall|f1)\/(.+)$/;

/** Whether `metric` is one a stage of `task` reports (per-label names are checked against the labels later). */
export function isMetricOf(task: StageTask, metric: string): boolean {
  if (task === 'mlm') return (MLM_METRICS as readonly string[]).includes(metric);
  return (CLASSIFICATION_METRICS as readonly string[]).includes(metric) || PER_LABEL_METRIC.test(metric);
}

/** Loss and perplexity fall as a model improves; every accuracy, precision, recall and F1 rises. */
export function higherIsBetter(metric: string): boolean {
  return metric !== 'loss' && metric !== 'perplexity';
}

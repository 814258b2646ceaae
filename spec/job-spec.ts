import type { ClassWeightsSpec, LabelledDataSpec, MetricName, StageTask } from './classification-spec.ts';

export type { ClassWeightsSpec, LabelledDataSpec, MetricName, StageTask } from './classification-spec.ts';

/**
 * A training job as users write it (YAML or JSON, snake_case like Hugging
 * Face TrainingArguments). The protobuf schema in proto/ mirrors these
 * shapes. `validateJob` is the single entry check: it collects every problem
 * with its field path and returns a fully-defaulted, typed Job.
 */
export interface CorpusSpec {
  /** Training files (.txt, .jsonl, .csv, .tsv, optionally .gz). */
  train: string[];
  /** Validation files; when empty, `valid_ratio` of the training documents. */
  valid: string[];
  /** Default 0.05. */
  valid_ratio: number;
  /** JSON field of .jsonl rows; default "text". */
  field: string;
  /** CSV/TSV column; default "text". */
  column: string;
  /** Longer documents are bad rows; default 1,000,000 characters. */
  max_chars: number;
  /** Above this fraction of bad rows in a file the job stops; default 0.01. */
  max_bad_fraction: number;
  /** Where token caches live; default ".cache/tokens". */
  cache_dir: string;
}

export interface TokenizerSpec {
  /** A folder with tokenizer.json (WordPiece or byte-level BPE), vocab.txt or vocab.json + merges.txt, or tokenizer.json / vocab.txt. Default: the model's init_from folder. */
  path: string;
  /** When set (and no path), a WordPiece vocabulary of this size is built from the training corpus. */
  build_vocab_size: number;
}

export interface ModelSpec {
  /** A local Hugging Face folder (config.json + model.safetensors) to continue from; its config.json's model_type picks the family. */
  init_from: string;
  /** A config.json path for a model trained from scratch. */
  config_file: string;
  /**
   * Inline config.json fields (override config_file / the family's defaults). `model_type`
   * picks the family: bert (default), distilbert, roberta, modernbert (model/families/).
   */
  config: Record<string, unknown>;
}

export type Schedule = 'linear' | 'cosine';

export interface StageSpec {
  seq_len: number;
  micro_batch: number;
  global_batch: number;
  /** Exactly one of epochs and max_steps is > 0. */
  epochs: number;
  max_steps: number;
  /** warmup_steps wins when > 0; else warmup_ratio of max steps (default 0.1). */
  warmup_steps: number;
  warmup_ratio: number;
  learning_rate: number;
  schedule: Schedule;
  /** Annealing floor as a fraction of learning_rate; default 0. */
  min_lr_ratio: number;
  weight_decay: number;
  max_grad_norm: number;
  adam_beta1: number;
  adam_beta2: number;
  adam_epsilon: number;
  mlm_probability: number;
  whole_word_mask: boolean;
  /** Optimizer steps between evaluations (0 = only at stage end). */
  eval_interval: number;
  /** Cap on validation blocks per evaluation (0 = all). */
  max_eval_samples: number;
  /** Optimizer steps between checkpoints (0 = only at evaluations and stage end). */
  checkpoint_interval: number;
  log_interval: number;
  /** "mlm" (default) or "classification" (spec/classification-spec.ts). */
  task: StageTask;
  /** classification: the labelled examples; null on MLM stages. */
  labels: LabelledDataSpec | null;
  /** classification: class weights of the cross-entropy (default: all 1). */
  class_weights: ClassWeightsSpec;
  /** classification: label smoothing of the cross-entropy, in [0, 1); default 0. */
  label_smoothing: number;
  /** classification: dropout before the classifier; null = hidden_dropout_prob (as Hugging Face). */
  classifier_dropout: number | null;
  /** This stage's own early stopping; null = the job's. */
  early_stopping: EarlyStoppingSpec | null;
}

export interface EarlyStoppingSpec {
  /** The metric that picks best.pth and drives patience; default "loss". */
  metric: MetricName;
  /** Evaluations without improvement before stopping; 0 = never. */
  patience: number;
  /** Stop as soon as the metric reaches this (≥ for accuracies/precision/recall/F1, ≤ for loss/perplexity); unset = none. */
  target: number | null;
}

/**
 * When a run counts as diverged: a training loss above `factor` × the median
 * of the last `window` steps' losses for `patience` steps in a row, a
 * non-finite evaluation, or an evaluation loss above `factor` × the lowest
 * one so far. Non-finite step losses always stop the run at once.
 */
export interface DivergenceSpec {
  /** Default 4. */
  factor: number;
  /** Consecutive steps above the threshold; default 3. */
  patience: number;
  /** Steps in the recent median; default 50 (judged once 10 are seen). */
  window: number;
  /**
   * "fail" (default): stop as FAILED, naming the step and the last good
   * checkpoint. "rollback": once per run, reload the last good checkpoint
   * and skip the batches read since it; a second divergence fails.
   */
  action: 'fail' | 'rollback';
}

export interface Job {
  name: string;
  output_dir: string;
  seed: number;
  /** "auto" | "wasm" | "cpu" | "tensorflow" | "torch". */
  engine: string;
  corpus: CorpusSpec;
  tokenizer: TokenizerSpec;
  model: ModelSpec;
  stages: StageSpec[];
  early_stopping: EarlyStoppingSpec;
  /** Periodic step checkpoints kept besides last.pth and best.pth; default 2. */
  keep_last: number;
  divergence: DivergenceSpec;
}

export const STAGE_DEFAULTS: Omit<StageSpec, 'seq_len' | 'micro_batch' | 'global_batch'> = {
  epochs: 0,
  max_steps: 0,
  warmup_steps: 0,
  warmup_ratio: 0.1,
  learning_rate: 5e-5,
  schedule: 'linear',
  min_lr_ratio: 0,
  weight_decay: 0.01,
  max_grad_norm: 1.0,
  adam_beta1: 0.9,
  adam_beta2: 0.999,
  adam_epsilon: 1e-8,
  mlm_probability: 0.15,
  whole_word_mask: false,
  eval_interval: 0,
  max_eval_samples: 0,
  checkpoint_interval: 0,
  log_interval: 10,
  task: 'mlm',
  labels: null,
  class_weights: { balanced: false, values: [] },
  label_smoothing: 0,
  classifier_dropout: null,
  early_stopping: null,
};

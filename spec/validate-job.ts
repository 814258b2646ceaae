import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import YAML from 'yaml';
import { STAGE_DEFAULTS, type DivergenceSpec, type Job, type StageSpec } from './job-spec.ts';
import { checkStageMetrics, checkStageOrder, checkStageTask, readEarlyStopping, readStageTask, TASK_STAGE_KEYS } from './validate-stage-task.ts';
import { fraction, JobSpecError, nonNeg, nonNegInt, positive, positiveInt, probability, Reader } from './field-reader.ts';

export { JobSpecError, shown } from './field-reader.ts';

/** When a run counts as diverged (DivergenceSpec). */
function readDivergence(r: Reader, raw: unknown): DivergenceSpec {
  const dv = r.obj(raw, 'divergence');
  r.unknownKeys(dv, 'divergence', ['factor', 'patience', 'window', 'action']);
  return {
    factor: r.num(dv, 'factor', 'divergence', 4, (n) => (n > 1 ? null : 'must be > 1')),
    patience: r.num(dv, 'patience', 'divergence', 3, positiveInt),
    window: r.num(dv, 'window', 'divergence', 50, (n) => positiveInt(n) ?? (n < 10 ? 'must be ≥ 10' : null)),
    action: r.oneOf(dv, 'action', 'divergence', 'fail', ['fail', 'rollback'] as const),
  };
}

const STAGE_KEYS = [...new Set(['seq_len', 'micro_batch', 'global_batch', ...Object.keys(STAGE_DEFAULTS), ...TASK_STAGE_KEYS])];

function readStage(r: Reader, raw: unknown, path: string, at: (p: string) => string): StageSpec {
  const o = r.obj(raw, path);
  r.unknownKeys(o, path, STAGE_KEYS);
  const d = STAGE_DEFAULTS;
  const s: StageSpec = {
    seq_len: r.num(o, 'seq_len', path, 128, (n) => positiveInt(n) ?? (n < 8 ? 'must be ≥ 8' : null)),
    micro_batch: r.num(o, 'micro_batch', path, 8, positiveInt),
    global_batch: r.num(o, 'global_batch', path, 0, positiveInt),
    epochs: r.num(o, 'epochs', path, d.epochs, nonNeg),
    max_steps: r.num(o, 'max_steps', path, d.max_steps, nonNegInt),
    warmup_steps: r.num(o, 'warmup_steps', path, d.warmup_steps, nonNegInt),
    warmup_ratio: r.num(o, 'warmup_ratio', path, d.warmup_ratio, fraction),
    learning_rate: r.num(o, 'learning_rate', path, d.learning_rate, positive),
    schedule: r.oneOf(o, 'schedule', path, d.schedule, ['linear', 'cosine'] as const),
    min_lr_ratio: r.num(o, 'min_lr_ratio', path, d.min_lr_ratio, fraction),
    weight_decay: r.num(o, 'weight_decay', path, d.weight_decay, nonNeg),
    max_grad_norm: r.num(o, 'max_grad_norm', path, d.max_grad_norm, nonNeg),
    adam_beta1: r.num(o, 'adam_beta1', path, d.adam_beta1, fraction),
    adam_beta2: r.num(o, 'adam_beta2', path, d.adam_beta2, fraction),
    adam_epsilon: r.num(o, 'adam_epsilon', path, d.adam_epsilon, positive),
    mlm_probability: r.num(o, 'mlm_probability', path, d.mlm_probability, probability),
    whole_word_mask: r.bool(o, 'whole_word_mask', path, d.whole_word_mask),
    eval_interval: r.num(o, 'eval_interval', path, d.eval_interval, nonNegInt),
    max_eval_samples: r.num(o, 'max_eval_samples', path, d.max_eval_samples, nonNegInt),
    checkpoint_interval: r.num(o, 'checkpoint_interval', path, d.checkpoint_interval, nonNegInt),
    log_interval: r.num(o, 'log_interval', path, d.log_interval, positiveInt),
    ...readStageTask(r, o, path, at),
  };
  for (const k of ['seq_len', 'micro_batch', 'global_batch']) if (o[k] === undefined) r.problems.push(`${path}.${k}: required`);
  if ((s.epochs > 0) === (s.max_steps > 0)) r.problems.push(`${path}: give exactly one of epochs and max_steps`);
  if (s.global_batch > 0 && s.global_batch % s.micro_batch !== 0) {
    r.problems.push(`${path}.global_batch: ${s.global_batch} is not a multiple of micro_batch ${s.micro_batch}`);
  }
  checkStageTask(r, s, path);
  return s;
}

/** Validates a parsed job; relative paths resolve against `baseDir`. */
export function validateJob(raw: unknown, source = 'job', baseDir = process.cwd()): Job {
  const r = new Reader();
  const o = r.obj(raw, 'job');
  r.unknownKeys(o, '', ['name', 'output_dir', 'seed', 'engine', 'corpus', 'tokenizer', 'model', 'stages', 'early_stopping', 'keep_last', 'divergence']);
  const at = (p: string) => (p && !isAbsolute(p) ? resolve(baseDir, p) : p);

  const c = r.obj(o.corpus, 'corpus');
  r.unknownKeys(c, 'corpus', ['train', 'valid', 'valid_ratio', 'field', 'column', 'max_chars', 'max_bad_fraction', 'cache_dir']);
  const corpus = {
    train: r.strList(c, 'train', 'corpus').map(at),
    valid: r.strList(c, 'valid', 'corpus').map(at),
    valid_ratio: r.num(c, 'valid_ratio', 'corpus', 0.05, fraction),
    field: r.str(c, 'field', 'corpus', 'text'),
    column: r.str(c, 'column', 'corpus', 'text'),
    max_chars: r.num(c, 'max_chars', 'corpus', 1_000_000, positiveInt),
    max_bad_fraction: r.num(c, 'max_bad_fraction', 'corpus', 0.01, fraction),
    cache_dir: at(r.str(c, 'cache_dir', 'corpus', '.cache/tokens')),
  };

  const m = r.obj(o.model, 'model');
  r.unknownKeys(m, 'model', ['init_from', 'config_file', 'config']);
  const model = {
    init_from: at(r.str(m, 'init_from', 'model', '')),
    config_file: at(r.str(m, 'config_file', 'model', '')),
    config: r.obj(m.config, 'model.config'),
  };
  if (model.init_from && (model.config_file || Object.keys(model.config).length)) {
    r.problems.push('model: init_from takes its config from the folder; drop config_file/config');
  }

  const t = typeof o.tokenizer === 'string' ? { path: o.tokenizer } : r.obj(o.tokenizer, 'tokenizer');
  r.unknownKeys(t, 'tokenizer', ['path', 'build_vocab_size']);
  const tokenizer = {
    path: at(r.str(t, 'path', 'tokenizer', '')) || model.init_from,
    build_vocab_size: r.num(t, 'build_vocab_size', 'tokenizer', 0, nonNegInt),
  };
  if (!tokenizer.path && !tokenizer.build_vocab_size) {
    r.problems.push('tokenizer: give a path (tokenizer.json / vocab.txt folder), a model.init_from folder, or build_vocab_size');
  }

  const rawStages = o.stages;
  if (!Array.isArray(rawStages) || rawStages.length === 0) r.problems.push('stages: required (a list of one or more stages)');
  const stages = Array.isArray(rawStages) ? rawStages.map((s, i) => readStage(r, s, `stages[${i}]`, at)) : [];

  const early_stopping = readEarlyStopping(r, o.early_stopping, 'early_stopping');
  checkStageMetrics(r, stages, early_stopping);
  checkStageOrder(r, stages);
  // The MLM corpus is needed by MLM stages and to build a vocabulary; a classification-only job reads its labels.
  if (stages.some((s) => s.task === 'mlm') || tokenizer.build_vocab_size || corpus.train.length) {
    if (corpus.train.length === 0) r.problems.push('corpus.train: required (one or more files)');
    else if (corpus.valid.length === 0 && corpus.valid_ratio === 0) r.problems.push('corpus: give valid files or a valid_ratio > 0');
  }

  const name = r.str(o, 'name', 'job', '');
  if (!name) r.problems.push('name: required (the run folder is <output_dir>/<name>)');
  else if (!/^[A-Za-z0-9._-]+$/.test(name)) r.problems.push(`name: ${JSON.stringify(name)} may use only letters, digits, '.', '_' and '-'`);

  const job: Job = {
    name,
    output_dir: at(r.str(o, 'output_dir', 'job', 'runs')),
    seed: r.num(o, 'seed', 'job', 42, nonNegInt),
    engine: r.oneOf(o, 'engine', 'job', 'auto', ['auto', 'wasm', 'cpu', 'tensorflow', 'torch']),
    corpus,
    tokenizer,
    model,
    stages,
    early_stopping,
    keep_last: r.num(o, 'keep_last', 'job', 2, nonNegInt),
    divergence: readDivergence(r, o.divergence),
  };
  if (r.problems.length) throw new JobSpecError(source, r.problems);
  return job;
}

/** Reads a .yaml/.yml/.json job file; relative paths in it resolve against its folder. */
export function loadJobFile(path: string): Job {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read job file: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = path.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
  }
  return validateJob(raw, path, dirname(resolve(path)));
}

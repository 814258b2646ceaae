import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { JobSpecError, validateJob } from '../../spec/validate-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';

const dir = scratchDir('cls-spec');
const labels = join(dir, 'labels.csv');
writeFileSync(labels, 'text,label\na,x\nb,y\n');
const mlm = { seq_len: 32, micro_batch: 2, global_batch: 4, max_steps: 2 };
const cls = (o: Record<string, unknown> = {}) => ({ ...mlm, task: 'classification', labels: { train: [labels] }, ...o });
const job = (stages: unknown[], over: Record<string, unknown> = {}) => ({ name: 'j', corpus: { train: ['/x.txt'] }, tokenizer: '/t', stages, ...over });

function problems(raw: unknown): string[] {
  try {
    validateJob(raw);
  } catch (e) {
    if (e instanceof JobSpecError) return e.problems;
    throw e;
  }
  return [];
}

test('a classification stage: every problem at once, each with its field path', () => {
  const p = problems(
    job([
      { ...mlm, labels: { train: [labels] }, label_smoothing: 0.1 },
      cls({
        labels: { train: [join(dir, 'missing.csv'), join(dir, 'notes.txt')], text_field: '', valid_ratio: 0, names: ['a', 'a'] },
        mlm_probability: 0.3,
        label_smoothing: 1,
        class_weights: { values: [1, -2] },
        early_stopping: { metric: 'perplexity' },
      }),
      cls({ class_weights: [1, 2] }),
      cls({ labels: { train: [labels], names: ['x', 'y'] }, class_weights: { balanced: true, values: [1, 2, 3] } }),
      { ...mlm },
    ]),
  );
  const expected = [
    'stages[0].labels: only for task: classification (this stage is mlm)',
    'stages[0].label_smoothing: only for task: classification (this stage is mlm)',
    `stages[1].labels.train[0]: ${join(dir, 'missing.csv')} does not exist`,
    `stages[1].labels.train[1]: ${join(dir, 'notes.txt')}: unknown format (use .csv, .tsv or .jsonl, optionally .gz)`,
    'stages[1].labels: give valid files or a valid_ratio > 0',
    'stages[1].labels.text_field: must not be empty',
    'stages[1].labels.names: "a" is listed twice',
    'stages[1].label_smoothing: must be in [0, 1), got 1',
    'stages[1].class_weights.values: must be a list of numbers ≥ 0, got [1,-2]',
    'stages[1].mlm_probability: only for task: mlm (this stage is classification)',
    'stages[2].class_weights.values: give stages[2].labels.names too, so the order of the weights is explicit',
    'stages[3].class_weights: give balanced or values, not both',
    'stages[3].class_weights.values: 3 weights for 2 labels (x, y)',
    'stages[1].early_stopping.metric: perplexity is not a metric of classification stages like stages[1] ' +
      '(loss, accuracy, macro_f1, macro_precision, macro_recall, precision/<label>, recall/<label>, f1/<label>)',
    'stages[4].task: an mlm stage cannot follow the classification stage stages[1] (put MLM stages first)',
  ];
  for (const e of expected) assert.ok(p.includes(e), `missing: ${e}\ngot:\n  ${p.join('\n  ')}`);
  assert.equal(p.length, expected.length, p.join('\n'));
});

test('early stopping: the job\'s metric must fit every stage without its own; per-label metrics name a label', () => {
  assert.deepEqual(problems(job([mlm, cls()], { early_stopping: { metric: 'accuracy' } })), [
    'early_stopping.metric: accuracy is not a metric of mlm stages like stages[0] (loss, perplexity, masked_accuracy, top10_accuracy, all_tokens_accuracy, f1); give stages[0] an early_stopping of its own',
  ]);
  assert.deepEqual(problems(job([mlm, cls({ labels: { train: [labels], names: ['x', 'y'] }, early_stopping: { metric: 'f1/z', target: 0.9 } })])), [
    'stages[1].early_stopping.metric: no label "z" (labels: x, y)',
  ]);
  assert.deepEqual(problems(job([cls({ early_stopping: { metric: 'recall/x', patience: 2 } })], { corpus: undefined })), [], 'a classification-only job needs no MLM corpus');
  assert.deepEqual(problems(job([cls(), mlm].slice(1), { corpus: undefined })), ['corpus.train: required (one or more files)']);
  assert.match(problems(job([mlm], { early_stopping: { metric: 'acc' } }))[0]!, /^early_stopping\.metric: must be one of loss, perplexity, .*, accuracy, macro_f1, .*, got "acc"/);
});

test('an unreadable labelled file is named', { skip: process.getuid?.() === 0 && 'root reads every file' }, () => {
  const locked = join(dir, 'locked.csv');
  writeFileSync(locked, 'text,label\n');
  chmodSync(locked, 0o000);
  assert.deepEqual(problems(job([mlm, cls({ labels: { train: [locked] } })])), [`stages[1].labels.train[0]: ${locked} is not readable`]);
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import YAML from 'yaml';
import { STAGE_DEFAULTS } from '../../coordinator/job/job-spec.ts';
import { decodeJobEnvelope, encodeJobEnvelope, jobToEnvelope, schemaType } from '../../coordinator/job/proto-job.ts';
import { validateJob } from '../../coordinator/job/validate-job.ts';

const demoPath = new URL('../../examples/demo-grimm.yaml', import.meta.url).pathname;
const demoDir = new URL('../../examples/', import.meta.url).pathname;

test('a job file goes through both encodings to the same typed job as validateJob gives', () => {
  const raw = YAML.parse(readFileSync(demoPath, 'utf8'));
  const direct = validateJob(raw, 'demo', demoDir);
  for (const encoding of ['json', 'binary'] as const) {
    const env = jobToEnvelope(direct, { world_size: 2, priority: 3, resume: false }, encoding);
    const { job, service } = decodeJobEnvelope(JSON.parse(JSON.stringify(env)));
    assert.deepEqual(job, direct, encoding);
    assert.deepEqual(service, { world_size: 2, priority: 3, resume: false });
  }
  // model.config survives as a google.protobuf.Struct, numbers and all.
  assert.equal(direct.model.config.hidden_size, 128);
});

test('unset optional fields take the defaults; explicit zeros stay', () => {
  const env = encodeJobEnvelope({
    name: 'd',
    corpus: { train: ['/x.txt'], valid_ratio: 0.1 },
    tokenizer: { path: '/tok' },
    stages: [{ seq_len: 64, micro_batch: 2, global_batch: 4, max_steps: 3, weight_decay: 0 }],
  });
  const { job } = decodeJobEnvelope(env);
  assert.equal(job.stages[0]!.learning_rate, 5e-5);
  assert.equal(job.stages[0]!.weight_decay, 0);
  assert.equal(job.stages[0]!.warmup_ratio, 0.1);
  assert.equal(job.seed, 42);
  assert.equal(job.early_stopping.metric, 'loss');
});

test('bad envelopes and jobs are rejected naming the field', () => {
  const good = { name: 'd', corpus: { train: ['/x.txt'] }, tokenizer: { path: '/t' }, stages: [{ seq_len: 64, micro_batch: 2, global_batch: 4, max_steps: 1 }] };
  assert.throws(() => decodeJobEnvelope({ schema: 'other.Job', encoding: 'json', payload: good }), /schema: expected "gradpool\.v1\.TrainingJob"/);
  assert.throws(() => decodeJobEnvelope({ schema: 'gradpool.v1.TrainingJob', encoding: 'xml', payload: good }), /encoding: expected "json" or "binary"/);
  assert.throws(() => decodeJobEnvelope({ schema: 'gradpool.v1.TrainingJob', encoding: 'binary', payload: Buffer.from([0x0a, 0xff, 0xff]).toString('base64') }), /not a valid gradpool\.v1\.TrainingJob/);
  assert.throws(() => encodeJobEnvelope({ ...good, stages: [{ sequence_length: 64 }] }), /stages\[0\]\.sequence_length: unknown field/);
  assert.throws(() => encodeJobEnvelope({ ...good, seed: 'x' }), /seed: integer expected/);
  assert.throws(
    () => decodeJobEnvelope(encodeJobEnvelope({ ...good, stages: [{ seq_len: 64, micro_batch: 4, global_batch: 10, max_steps: 1 }] })),
    /stages\[0\]\.global_batch: 10 is not a multiple of micro_batch 4/,
  );
});

test('the .proto and the job spec name the same fields', () => {
  const stage = Object.keys(schemaType('Stage').fields).sort();
  assert.deepEqual(stage, ['seq_len', 'micro_batch', 'global_batch', ...Object.keys(STAGE_DEFAULTS)].sort());
  const job = Object.keys(schemaType('TrainingJob').fields).filter((k) => !['world_size', 'priority', 'resume'].includes(k));
  const sample = validateJob({ name: 'x', corpus: { train: ['/a.txt'] }, tokenizer: '/t', stages: [{ seq_len: 8, micro_batch: 1, global_batch: 1, max_steps: 1 }] });
  assert.deepEqual(job.sort(), Object.keys(sample).sort());
  assert.deepEqual(Object.keys(schemaType('Corpus').fields).sort(), Object.keys(sample.corpus).sort());
});

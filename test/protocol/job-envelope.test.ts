import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import YAML from 'yaml';
import { decodeJobEnvelope, encodeJobEnvelope, JOB_SCHEMA, jobToEnvelope, SERVICE_FIELDS } from '../../protocol/job-envelope.ts';
import { fromProgressJson, toProgressJson, toRunResultJson, toStatusJson } from '../../protocol/messages.ts';
import { schemaType } from '../../protocol/schema.ts';
import { JobSpecError, validateJob } from '../../spec/validate-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';

// The codec needs no Redis: these are pure transformations.
const demoPath = new URL('../../examples/demo-grimm.yaml', import.meta.url).pathname;
const demoDir = new URL('../../examples/', import.meta.url).pathname;
const protoPath = new URL('../../proto/gradpool.proto', import.meta.url).pathname;
const ENCODINGS = ['json', 'binary'] as const;
// Labelled files are checked (exist, readable) when a job is validated: give them real ones.
const labelled = join(scratchDir('envelope'), 'labels.csv');
writeFileSync(labelled, 'text,label\nonce upon a time,grimm\n');

/** What the coordinator sees: the envelope after BullMQ's JSON round trip. */
const viaQueue = (env: object) => decodeJobEnvelope(JSON.parse(JSON.stringify(env)));

const minimal = () => ({
  name: 'd',
  corpus: { train: ['/data/x.txt'] },
  tokenizer: { path: '/tok' },
  stages: [{ seq_len: 64, micro_batch: 2, global_batch: 4, max_steps: 3 }],
});

const full = {
  name: 'full-job',
  output_dir: '/runs',
  seed: 7,
  engine: 'wasm',
  corpus: {
    train: ['/data/a.jsonl', '/data/b.csv.gz'],
    valid: ['/data/v.txt'],
    valid_ratio: 0.2,
    field: 'body',
    column: 'abstract',
    max_chars: 5000,
    max_bad_fraction: 0.05,
    cache_dir: '/cache',
  },
  tokenizer: { path: '/tok/vocab.txt', build_vocab_size: 8000 },
  model: {
    init_from: '',
    config_file: '/cfg/config.json',
    config: { hidden_size: 128, layer_norm_eps: 1e-12, hidden_act: 'gelu', tie: true, none: null, sizes: [1, 2.5, 'x'], rope: { base: 10000, on: false } },
  },
  stages: [
    {
      seq_len: 128, micro_batch: 8, global_batch: 64, epochs: 1.5, max_steps: 0, warmup_steps: 0, warmup_ratio: 0.06,
      learning_rate: 1e-4, schedule: 'cosine', min_lr_ratio: 0.1, weight_decay: 0, max_grad_norm: 0, adam_beta1: 0.8,
      adam_beta2: 0.98, adam_epsilon: 1e-6, mlm_probability: 0.2, whole_word_mask: true, eval_interval: 50,
      max_eval_samples: 100, checkpoint_interval: 25, log_interval: 5,
    },
    {
      seq_len: 512, micro_batch: 2, global_batch: 64, epochs: 0, max_steps: 300, warmup_steps: 30, warmup_ratio: 0,
      learning_rate: 5e-5, schedule: 'linear', min_lr_ratio: 0, weight_decay: 0.01, max_grad_norm: 1, adam_beta1: 0.9,
      adam_beta2: 0.999, adam_epsilon: 1e-8, mlm_probability: 0.15, whole_word_mask: false, eval_interval: 0,
      max_eval_samples: 0, checkpoint_interval: 0, log_interval: 10,
    },
  ],
  early_stopping: { metric: 'masked_accuracy', patience: 3, target: 0.5 },
  keep_last: 0,
  divergence: { factor: 8, patience: 2, window: 20, action: 'rollback' },
};

test('demo-grimm.yaml goes through both encodings to the same Job as validateJob', () => {
  const raw = YAML.parse(readFileSync(demoPath, 'utf8'));
  // A queued job's relative paths resolve against the coordinator's cwd, so compare with that base.
  const direct = validateJob(raw, 'demo', process.cwd());
  // From the file's own base: what the typed client sends (absolute paths already).
  const fromFile = validateJob(raw, 'demo', demoDir);
  for (const encoding of ENCODINGS) {
    const { job, service } = viaQueue(encodeJobEnvelope(raw, encoding));
    assert.deepEqual(job, direct, encoding);
    assert.deepEqual(service, { world_size: 0, priority: 0, resume: false });
    const typed = viaQueue(jobToEnvelope(fromFile, { world_size: 2, priority: 3 }, encoding));
    assert.deepEqual(typed.job, fromFile, encoding);
    assert.deepEqual(typed.service, { world_size: 2, priority: 3, resume: false });
  }
  assert.equal(direct.model.config.hidden_size, 128);
});

test('a job with every field set survives both encodings, Struct values included', () => {
  const direct = validateJob(full, 'full');
  const service = { world_size: 4, priority: 2, resume: true };
  for (const encoding of ENCODINGS) {
    const env = encodeJobEnvelope({ ...full, ...service }, encoding);
    if (env.encoding === 'json') assert.deepEqual(env.payload, { ...full, ...service }, 'the JSON payload is the job as written');
    const out = viaQueue(env);
    assert.deepEqual(out.job, direct, encoding);
    assert.deepEqual(out.service, service);
  }
  const again = viaQueue(jobToEnvelope(direct, service, 'binary'));
  assert.deepEqual(again.job, direct);
});

test('a classification stage after an MLM stage survives both encodings, shorthands included', () => {
  const job = {
    ...minimal(),
    stages: [
      minimal().stages[0],
      {
        seq_len: 64, micro_batch: 2, global_batch: 4, max_steps: 3, task: 'classification',
        labels: { train: [labelled], valid: [labelled], text_field: 'text', text_pair_field: 'second', label_field: 'label', names: ['grimm', 'japanese'], max_chars: 900, max_bad_fraction: 0.2 },
        class_weights: [1, 2.5], label_smoothing: 0.1, classifier_dropout: 0.2,
        early_stopping: { metric: 'f1/japanese', patience: 2, target: 0.9 },
      },
    ],
  };
  const direct = validateJob(job);
  assert.deepEqual(direct.stages[1]!.class_weights, { balanced: false, values: [1, 2.5] });
  assert.equal(direct.stages[0]!.task, 'mlm');
  assert.equal(direct.stages[0]!.labels, null);
  for (const encoding of ENCODINGS) {
    assert.deepEqual(viaQueue(encodeJobEnvelope(job, encoding)).job, direct, encoding);
    assert.deepEqual(viaQueue(jobToEnvelope(direct, {}, encoding)).job, direct, `${encoding}: a validated job`);
  }
  const balanced = validateJob({ ...job, stages: [{ ...job.stages[1], class_weights: 'balanced', labels: { train: [labelled] }, early_stopping: null }] });
  assert.deepEqual(balanced.stages[0]!.class_weights, { balanced: true, values: [] });
  assert.deepEqual(viaQueue(encodeJobEnvelope(balanced, 'binary')).job, balanced);
});

test('unset optional fields take the job-spec defaults; explicit zeros stay', () => {
  for (const encoding of ENCODINGS) {
    const unset = viaQueue(encodeJobEnvelope(minimal(), encoding)).job;
    assert.deepEqual(unset, validateJob(minimal()), encoding);
    assert.equal(unset.stages[0]!.learning_rate, 5e-5);
    assert.equal(unset.stages[0]!.warmup_ratio, 0.1);
    assert.equal(unset.stages[0]!.max_grad_norm, 1);
    assert.equal(unset.seed, 42);
    assert.equal(unset.keep_last, 2);
    assert.equal(unset.corpus.valid_ratio, 0.05);
    assert.deepEqual(unset.early_stopping, { metric: 'loss', patience: 0, target: null });

    const zeros = {
      ...minimal(),
      seed: 0,
      keep_last: 0,
      corpus: { train: ['/data/x.txt'], valid: ['/data/v.txt'], valid_ratio: 0 },
      stages: [{ seq_len: 64, micro_batch: 2, global_batch: 4, max_steps: 3, weight_decay: 0, max_grad_norm: 0, warmup_ratio: 0 }],
      early_stopping: { target: 0 },
    };
    const z = viaQueue(encodeJobEnvelope(zeros, encoding)).job;
    assert.deepEqual([z.seed, z.keep_last, z.corpus.valid_ratio], [0, 0, 0], encoding);
    assert.deepEqual([z.stages[0]!.weight_decay, z.stages[0]!.max_grad_norm, z.stages[0]!.warmup_ratio], [0, 0, 0]);
    assert.equal(z.early_stopping.target, 0);

    // Empty lists and empty messages are "unset" too.
    const empty = viaQueue(encodeJobEnvelope({ ...minimal(), corpus: { train: ['/data/x.txt'], valid: [] }, early_stopping: {}, model: {} }, encoding)).job;
    assert.deepEqual(empty, validateJob(minimal()), encoding);
  }
});

test('bad envelopes are rejected naming what is wrong', () => {
  const json = encodeJobEnvelope(minimal(), 'json');
  const binary = encodeJobEnvelope(minimal(), 'binary');
  const rejects = (data: unknown, re: RegExp) => assert.throws(() => decodeJobEnvelope(data), (e: Error) => e instanceof JobSpecError && re.test(e.message));
  rejects(null, /envelope: invalid job\n {2}must be an object/);
  rejects({ ...json, schema: 'other.Job' }, /schema: expected "gradpool\.v1\.TrainingJob", got "other\.Job"/);
  rejects({ ...json, encoding: 'xml' }, /encoding: expected "json" or "binary", got "xml"/);
  rejects({ ...json, extra: 1 }, /extra: unknown field/);
  rejects({ ...json, payload: 'x' }, /payload: the json encoding needs an object/);
  rejects({ ...binary, payload: '@@not base64@@' }, /payload: base64 expected/);
  rejects({ ...binary, payload: Buffer.from([0x0a, 0xff, 0xff]).toString('base64') }, /payload: not a valid gradpool\.v1\.TrainingJob in protobuf binary/);

  // A field this schema does not know (a newer producer) is refused, not silently dropped.
  const bytes = Buffer.from(binary.payload as string, 'base64');
  rejects({ ...binary, payload: Buffer.concat([bytes, Buffer.from([0x98, 0x06, 0x01])]).toString('base64') }, /payload: unknown field number 99/);
  const stage = schemaType('Stage').encode(schemaType('Stage').fromObject(minimal().stages[0]!)).finish();
  const withStage = protobuf.Writer.create().uint32((8 << 3) | 2).bytes(Buffer.concat([stage, Buffer.from([0x98, 0x06, 0x01])])).finish();
  const { stages: _, ...noStages } = minimal();
  const noStageBytes = Buffer.from(encodeJobEnvelope(noStages, 'binary').payload as string, 'base64');
  rejects({ ...binary, payload: Buffer.concat([noStageBytes, withStage]).toString('base64') }, /payload\.stages\[0\]: unknown field number 99/);
});

test('bad jobs are rejected naming the field path, in both directions', () => {
  const bad = (patch: object) => ({ ...minimal(), ...patch });
  const encodeRejects = (raw: object, re: RegExp) => assert.throws(() => encodeJobEnvelope(raw), re);
  const decodeRejects = (payload: object, re: RegExp) =>
    assert.throws(() => decodeJobEnvelope({ schema: JOB_SCHEMA, encoding: 'json', payload }), (e: Error) => e instanceof JobSpecError && re.test(e.message));

  const unknown = bad({ stages: [{ sequence_length: 64, micro_batch: 2, global_batch: 4, max_steps: 1 }] });
  encodeRejects(unknown, /stages\[0\]\.sequence_length: unknown field \(expected one of seq_len, /);
  decodeRejects(unknown, /payload\.stages\[0\]\.sequence_length: unknown field/);
  encodeRejects(bad({ seed: 'x' }), /seed: integer expected, got "x"/);
  decodeRejects(bad({ seed: 'x' }), /payload\.seed: integer expected/);
  decodeRejects(bad({ stages: [{ seq_len: 12.5 }] }), /payload\.stages\[0\]\.seq_len: integer expected, got 12\.5/);
  decodeRejects(bad({ seed: -1 }), /payload\.seed: integer in \[0, 4294967295\] expected/); // fromObject would wrap it
  decodeRejects(bad({ model: { config: [1] } }), /payload\.model\.config: object expected/);
  decodeRejects(bad({ tokenizer: '/tok' }), /payload\.tokenizer: object expected/); // job-file shorthands: encodeJobEnvelope only
  decodeRejects(bad({ priority: -1 }), /priority: must be in \[0, 2097151\]/);

  // Schema-valid but not a valid job: validateJob's messages, every problem at once, both encodings.
  const job = bad({ stages: [{ seq_len: 64, micro_batch: 4, global_batch: 10, max_steps: 1, schedule: 'step' }], name: '' });
  for (const encoding of ENCODINGS) {
    assert.throws(
      () => viaQueue(encodeJobEnvelope(job, encoding)),
      (e: Error) =>
        e instanceof JobSpecError &&
        e.problems.includes('stages[0].global_batch: 10 is not a multiple of micro_batch 4') &&
        e.problems.some((p) => p.startsWith('stages[0].schedule: must be one of linear, cosine')) &&
        e.problems.some((p) => p.startsWith('name: required')),
    );
  }
});

test('the .proto and validateJob name the same fields, with the same defaults', () => {
  const parsed = protobuf.parse(readFileSync(protoPath, 'utf8'), { keepCase: true, alternateCommentMode: true }).root;
  const GIVEN = ['name', 'train', 'path', 'task', 'seq_len', 'micro_batch', 'global_batch', 'max_steps'];
  const sample = validateJob({ name: 'x', corpus: { train: ['/a.txt'] }, tokenizer: '/t', stages: [{ seq_len: 8, micro_batch: 1, global_batch: 1, max_steps: 1 }] });
  const cls = validateJob({ ...minimal(), stages: [{ ...minimal().stages[0], task: 'classification', labels: { train: [labelled] } }] });
  const messages: [string, Record<string, unknown>][] = [
    ['TrainingJob', sample as unknown as Record<string, unknown>],
    ['Corpus', sample.corpus as unknown as Record<string, unknown>],
    ['Tokenizer', sample.tokenizer as unknown as Record<string, unknown>],
    ['Model', sample.model as unknown as Record<string, unknown>],
    ['Stage', sample.stages[0] as unknown as Record<string, unknown>],
    ['EarlyStopping', sample.early_stopping as unknown as Record<string, unknown>],
    ['Divergence', sample.divergence as unknown as Record<string, unknown>],
    ['LabelledData', cls.stages[0]!.labels as unknown as Record<string, unknown>],
    ['ClassWeights', cls.stages[0]!.class_weights as unknown as Record<string, unknown>],
  ];
  for (const [name, spec] of messages) {
    const type = parsed.lookupType(`gradpool.v1.${name}`);
    const fields = Object.values(type.fields).filter((f) => !(SERVICE_FIELDS as readonly string[]).includes(f.name));
    assert.deepEqual(fields.map((f) => f.name).sort(), Object.keys(spec).sort(), `${name}: field names`);
    assert.deepEqual(Object.keys(schemaType(name).fields), Object.keys(type.fields), `${name}: the codec loads the same schema`);
    for (const f of fields) {
      if (f.repeated || !(f.type in protobuf.types.basic)) continue; // lists and messages: presence is built in
      assert.equal(f.options?.proto3_optional, true, `${name}.${f.name}: a job scalar must be optional so that unset means default`);
      const comment = f.comment ?? '';
      assert.match(comment, /default |required|unset = /, `${name}.${f.name}: say its default in the .proto`);
      if (GIVEN.includes(f.name)) continue; // set in the sample, not defaulted
      const m = /default ("[^"]*"|-?[\d.]+(?:e-?\d+)?|true|false)/.exec(comment);
      if (!m) continue;
      const declared = JSON.parse(m[1]!) as unknown;
      const actual = spec[f.name];
      const ok = actual === declared || (typeof declared === 'string' && actual === resolve(declared));
      assert.ok(ok, `${name}.${f.name}: the .proto says default ${m[1]}, validateJob gives ${JSON.stringify(actual)}`);
    }
  }
});

test('status, progress and results travel as schema-checked JSON', () => {
  const p = toProgressJson({ stage: 0, step: 3, max_steps: 10, loss: 2.5, world_size: 2 });
  assert.equal(p.tokens_per_s, 0, 'unset scalars are filled for readers');
  assert.equal('eval' in p, false, 'an unset message stays absent');
  const withEval = toProgressJson({ ...p, eval: { task: 'mlm', loss: 2, perplexity: 7.39, masked_accuracy: 0.3, top10_accuracy: 0.6, all_tokens_accuracy: 0.8, f1: 0.1, masked_tokens: 90 } });
  assert.equal(withEval.eval?.masked_tokens, 90);
  assert.throws(() => toProgressJson({ tokensPerSec: 5 } as object), /gradpool\.v1\.Progress: tokensPerSec: unknown field/);
  assert.throws(() => toProgressJson({ step: -1 }), /step: integer in \[0, 4294967295\]/);
  assert.deepEqual(fromProgressJson({ ...p, added_later: 1 }), p, 'readers drop fields they do not know');
  assert.throws(() => fromProgressJson({ step: 'x' }), /step: integer expected/);

  const s = toStatusJson({ id: 'run-1', state: 'RUNNING', progress: p, created_at_ms: 1_700_000_000_000 });
  assert.equal(s.created_at_ms, 1_700_000_000_000, 'uint64 milliseconds stay JSON numbers');
  assert.deepEqual(s.progress, p);
  assert.throws(() => toStatusJson({ state: 'DONE' as never }), /state: one of JOB_STATE_UNSPECIFIED, QUEUED, .* expected, got "DONE"/);

  const r = toRunResultJson({ run_dir: '/runs/x', steps: 120, finished: true, best_metric: 'loss', best_value: 0 });
  assert.equal(r.best_value, 0, 'an explicit best value of 0 stays');
  assert.equal('best_value' in toRunResultJson({ run_dir: '/runs/x' }), false, 'no evaluation: no best value');
  assert.equal(r.last_checkpoint, '');
});

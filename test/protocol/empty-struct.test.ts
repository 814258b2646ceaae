import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeJobEnvelope, encodeJobEnvelope, JOB_SCHEMA } from '../../protocol/job-envelope.ts';
import { TrainingJob } from '../../protocol/schema.ts';

const job = {
  name: 'struct', corpus: { train: ['/data/a.txt'], valid_ratio: 0.1 }, tokenizer: { path: '/models/bert' },
  stages: [{ seq_len: 32, micro_batch: 4, global_batch: 8, max_steps: 1 }],
};

test('binary: an empty model.config Struct on the wire is refused (a plain object encodes as one); unset is fine', () => {
  // What a producer gets when it hands a plain object to a generated Struct field: the field, with no entries.
  const empty = TrainingJob.fromObject({ ...job, model: { config: { fields: {} } } });
  const payload = Buffer.from(TrainingJob.encode(empty).finish()).toString('base64');
  assert.throws(() => decodeJobEnvelope({ schema: JOB_SCHEMA, encoding: 'binary', payload }), /payload\.model\.config: an empty google\.protobuf\.Struct/);
  assert.equal(decodeJobEnvelope(encodeJobEnvelope(job, 'binary')).job.model.config.hidden_size, undefined);
  // The TypeScript encoders leave an empty config unset, so their own jobs pass.
  assert.doesNotThrow(() => decodeJobEnvelope(encodeJobEnvelope({ ...job, model: { config: {} } }, 'binary')));
  const filled = decodeJobEnvelope(encodeJobEnvelope({ ...job, model: { config: { hidden_size: 64 } } }, 'binary'));
  assert.equal(filled.job.model.config.hidden_size, 64);
});

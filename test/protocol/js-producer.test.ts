import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeJobEnvelope } from '../../protocol/job-envelope.ts';
// @ts-expect-error: a plain .mjs example, no type declarations
import { envelope, trainingJob } from '../../examples/enqueue-from-js.mjs';

// examples/enqueue-from-js.mjs is what a foreign Node producer does with protobufjs alone:
// its envelopes decode to the job it meant, model.config included, in both encodings.
test('the JavaScript producer example: binary and JSON envelopes decode to its job, model.config as a Struct', async () => {
  for (const encoding of ['binary', 'json']) {
    const { job, service } = decodeJobEnvelope(await envelope(trainingJob('js-1'), encoding));
    assert.equal(job.name, 'js-1', encoding);
    assert.deepEqual(job.model.config, { hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024 }, encoding);
    assert.equal(job.stages[0]!.global_batch, 64);
    assert.equal(job.output_dir, '/shared/runs');
    assert.deepEqual(service, { world_size: 4, priority: 1, resume: false, min_world_size: 2, preemptible: true }, encoding);
  }
});

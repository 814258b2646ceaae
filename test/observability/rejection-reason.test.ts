/**
 * The reason label of gradpool_intake_rejections_total is decided where the
 * job is checked (coordinator/job-checks.ts): the first check that found a
 * problem names it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkJobData, JobRejected } from '../../coordinator/job-checks.ts';

function rejection(data: unknown): JobRejected {
  try {
    checkJobData(data, { resumingAttempt: false });
  } catch (e) {
    assert.ok(e instanceof JobRejected, String(e));
    return e;
  }
  assert.fail('the job was accepted');
}

const fixtures = new URL('../fixtures/', import.meta.url).pathname;

test('each refused job carries the reason of the check that refused it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gradpool-reject-'));
  const corpus = join(dir, 'train.txt');
  writeFileSync(corpus, 'once upon a time\n');
  const payload = (o: Record<string, unknown> = {}) => ({
    name: 'r', output_dir: dir, corpus: { train: [corpus] }, tokenizer: { path: join(fixtures, 'bert-base-uncased') },
    stages: [{ seq_len: 32, micro_batch: 4, global_batch: 8, max_steps: 1 }], ...o,
  });
  const envelope = (p: unknown, service: Record<string, unknown> = {}) => ({ schema: 'gradpool.v1.TrainingJob', encoding: 'json', payload: { ...(p as object), ...service } });
  // Accepted as it stands (the controls below differ in one thing each).
  checkJobData(envelope(payload()), { resumingAttempt: false });

  assert.equal(rejection(envelope({ name: 'bad', stages: [{ seq_len: 'long' }] })).reason, 'invalid_job');
  assert.equal(rejection({ schema: 'something.else', encoding: 'json', payload: {} }).reason, 'invalid_job');
  assert.equal(rejection(envelope(payload({ corpus: { train: [join(dir, 'missing.txt')] } }))).reason, 'invalid_job');
  const plan = rejection(envelope(payload(), { world_size: 3 }));
  assert.equal(plan.reason, 'plan', plan.message);
  mkdirSync(join(dir, 'r', 'checkpoints'), { recursive: true });
  writeFileSync(join(dir, 'r', 'checkpoints', 'last.pth'), '');
  const folder = rejection(envelope(payload()));
  assert.equal(folder.reason, 'run_folder_exists', folder.message);
});

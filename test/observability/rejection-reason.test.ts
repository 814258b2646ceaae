/**
 * The reason label of gradpool_intake_rejections_total, read from the
 * message the intake stores (coordinator/job-checks.ts builds it), so a
 * change of that message's shape shows here rather than as every rejection
 * counted as a preparation failure.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkJobData, JobRejected } from '../../coordinator/job-checks.ts';
import { rejectionReason } from '../../coordinator/http/coordinator-metrics.ts';

function rejection(data: unknown): string {
  try {
    checkJobData(data, { resumingAttempt: false });
  } catch (e) {
    assert.ok(e instanceof JobRejected, String(e));
    return e.message;
  }
  assert.fail('the job was accepted');
}

test('intake messages map to their reasons', () => {
  const schema = rejection({ schema: 'gradpool.v1.TrainingJob', encoding: 'json', payload: { name: 'bad', stages: [{ seq_len: 'long' }] } });
  assert.equal(rejectionReason(schema), 'invalid_job', schema);
  const envelope = rejection({ schema: 'something.else', encoding: 'json', payload: {} });
  assert.equal(rejectionReason(envelope), 'invalid_job', envelope);
  assert.equal(rejectionReason(new JobRejected(['payload.name: runs/x already holds a run: submit with resume: true, or choose another name']).message), 'run_folder_exists');
  assert.equal(rejectionReason(new JobRejected(["payload.world_size, min_world_size: no world size in [3, 3] divides every stage's global_batch"]).message), 'plan');
  assert.equal(rejectionReason('intake: ENOMEM'), 'preparation_failed');
});

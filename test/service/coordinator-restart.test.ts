import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { stepLosses, testJob } from '../helpers/test-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';
import { startCluster, type Cluster } from './harness.ts';

// The coordinator is not on the training path: if it dies mid-run the ranks
// keep training, and the coordinator that takes the run over (once the dead
// one's lock lapses) reattaches to them instead of starting the run again.
let cluster: Cluster;
before(async () => {
  cluster = await startCluster({ workers: 2, env: { GRADPOOL_RUN_LOCK_MS: '2000' } });
});
after(async () => {
  await cluster.stop();
});

test('a coordinator killed mid-run is replaced and the run completes once, untouched', async () => {
  const dir = scratchDir('restart');
  const job = testJob(dir, { name: 'restart' }, { max_steps: 40, eval_interval: 0 });
  const id = await cluster.client.submit(job, { worldSize: 2 });
  for await (const e of cluster.client.events(id, 200)) {
    if (e.type === 'progress') break;
    if (e.type === 'failed') assert.fail(e.reason);
  }
  cluster.coordinator.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 500));
  cluster.startCoordinator();
  const result = await cluster.client.result(id);
  assert.ok(result.finished, JSON.stringify(result));
  assert.equal(result.attempts, 1, 'the ranks were not dispatched again');
  assert.equal(result.steps, 40);
  assert.equal(stepLosses(result.run_dir).length, 40);
  assert.equal((await cluster.client.status(id)).state, 'COMPLETED');
});

test('a worker stopped with SIGTERM pauses the run at a checkpoint; it resumes on the next gang and ends as one run', async () => {
  const dir = scratchDir('sigterm');
  const job = testJob(dir, { name: 'sigterm' }, { max_steps: 40, eval_interval: 0 });
  const id = await cluster.client.submit(job, { worldSize: 2 });
  for await (const e of cluster.client.events(id, 200)) {
    if (e.type === 'progress' && e.progress.step >= 3) break;
    if (e.type === 'failed') assert.fail(e.reason);
  }
  const stopped = cluster.workers[0]!;
  stopped.kill('SIGTERM');
  await new Promise((r) => stopped.once('exit', r));
  // One worker left: the run waits for a gang of 2 (it does not half-start), then goes on when one comes.
  await new Promise((r) => setTimeout(r, 3000));
  assert.notEqual((await cluster.client.status(id)).state, 'COMPLETED');
  cluster.addWorker();
  const result = await cluster.client.result(id);
  assert.ok(result.finished, JSON.stringify(result));
  assert.ok(result.attempts >= 2, `attempts ${result.attempts}`);
  assert.equal(result.steps, 40);
  // Every step's loss was logged once: the resumed attempt went on from the checkpoint, not from scratch.
  assert.equal(stepLosses(result.run_dir).length, 40);
});

import { readCurrentLog } from '../../train/step-log.ts';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Queue } from 'bullmq';
import { redisOptions } from '../../protocol/redis.ts';
import { JobSpecError } from '../../spec/validate-job.ts';
import { JOBS_QUEUE } from '../../protocol/queues.ts';
import { loadTorchFile } from '../../model/formats/torch-file.ts';
import { runPaths } from '../../train/run-spec.ts';
import { testJob } from '../helpers/test-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';
import { REDIS_URL, startCluster, type Cluster } from './harness.ts';

// Lock duration 1.5 s and steps of several seconds: with the compute on the
// event-loop thread BullMQ would lose the lock and run the rank twice.
let cluster: Cluster;
before(async () => {
  cluster = await startCluster({ workers: 2, env: { GRADPOOL_LOCK_MS: '1500', GRADPOOL_GANG_DEADLINE_MS: '4000' } });
});
after(async () => {
  await cluster.stop();
});

const slowModel = {
  config: { hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 512, max_position_embeddings: 128 },
};

test('a rank job whose steps outlast the lock runs exactly once; progress flows through events', async () => {
  const dir = scratchDir('lock');
  const job = testJob(dir, { name: 'slow', model: slowModel }, { seq_len: 128, micro_batch: 16, global_batch: 32, max_steps: 3, eval_interval: 0, max_eval_samples: 4 });
  const submittedBefore = Date.now();
  const id = await cluster.client.submit(job, { worldSize: 1 });
  const seen: string[] = [];
  let outcome;
  for await (const e of cluster.client.events(id, 250)) {
    seen.push(e.type === 'progress' ? `step ${e.progress.step}` : e.type === 'status' ? e.state : e.type);
    if (e.type === 'completed') outcome = e.result;
    if (e.type === 'failed') assert.fail(e.reason);
  }
  assert.ok(outcome && outcome.finished, JSON.stringify(seen));
  const { steps, records } = readCurrentLog(outcome.run_dir);
  assert.equal(steps.length, 3);
  // How the start went, phase by phase: the worker's warm rank process took the rank, and the
  // phases (from the job's add to the engine built) fit between submit and the record.
  const startup = records.find((r) => r.event === 'startup') as unknown as Record<string, number | boolean | string> | undefined;
  assert.ok(startup, 'a startup record');
  assert.equal(startup.warm_rank_process, true);
  assert.equal(startup.attempt, 1);
  const phases = ['queued_s', 'prepare_s', 'dispatch_s', 'rendezvous_s', 'engine_build_s'].map((k) => startup[k]);
  assert.ok(phases.every((v) => typeof v === 'number' && v >= 0), JSON.stringify(startup));
  const sum = (phases as number[]).reduce((a, b) => a + b, 0);
  assert.ok(sum <= (Date.parse(startup.time as string) - submittedBefore) / 1000 + 0.005, `phases ${sum} s, ${JSON.stringify(startup)}`);
  // The premise: a step (32 × 128 tokens) takes longer than the 1.5 s lock.
  assert.ok(steps.some((l) => (32 * 128) / l.tokensPerSec > 1.5), 'steps were too short to test the lock');
  assert.ok(seen.includes('step 3'), `progress events: ${seen.join(', ')}`);
  const executions = await cluster.redis.get(`${cluster.prefix}:exec:${id}.a1.r0`);
  assert.equal(executions, '1', 'the rank job ran more than once');
  const status = await cluster.client.status(id);
  assert.equal(status.state, 'COMPLETED');
});

test('gang start: a run needing more workers than there are waits QUEUED (with the reason), never half-starts, then starts when they come', async () => {
  const dir = scratchDir('gang');
  const job = testJob(dir, { name: 'gang' }, { max_steps: 2, eval_interval: 0, micro_batch: 4, global_batch: 12 });
  const id = await cluster.client.submit(job, { worldSize: 3 });
  // Two workers, three ranks: the scheduler dispatches nothing until a gang of three is free.
  await new Promise((r) => setTimeout(r, 3000));
  const waiting = await cluster.client.status(id);
  assert.equal(waiting.state, 'QUEUED', JSON.stringify(waiting));
  assert.equal(waiting.queue_position, 1);
  assert.equal(waiting.queue_reason, 'waiting for 1 worker (the pool has 2)');
  assert.ok(!existsSync(runPaths(join(dir, 'runs', 'gang')).last), 'nothing may train before the gang is complete');
  cluster.addWorker();
  const outcome = await cluster.client.result(id);
  assert.equal(outcome.world_size, 3);
  assert.ok(outcome.finished);
  assert.equal(outcome.attempts, 1, 'one gang, dispatched once the pool could hold it');
});

test('cancel stops a running run within seconds and leaves a loadable last.pth', async () => {
  const dir = scratchDir('cancel');
  const job = testJob(dir, { name: 'long' }, { max_steps: 100000, eval_interval: 0, checkpoint_interval: 0 });
  const id = await cluster.client.submit(job, { worldSize: 2 });
  for await (const e of cluster.client.events(id, 250)) {
    if (e.type === 'progress') break;
    if (e.type === 'failed') assert.fail(e.reason);
  }
  const t0 = Date.now();
  await cluster.client.cancel(id);
  const outcome = await cluster.client.result(id);
  const seconds = (Date.now() - t0) / 1000;
  assert.ok(outcome.cancelled, JSON.stringify(outcome));
  assert.ok(seconds < 15, `cancel took ${seconds} s`);
  assert.ok(loadTorchFile(runPaths(outcome.run_dir).last) instanceof Map);
  assert.equal((await cluster.client.status(id)).state, 'CANCELLED');
});

test('bad jobs are rejected with the field path: by the client before queueing, by the coordinator for foreign producers', async () => {
  const dir = scratchDir('bad');
  const good = testJob(dir);
  await assert.rejects(cluster.client.submit({ ...good, stages: [{ seq_len: 32, micro_batch: 4, global_batch: 10, max_steps: 1 }] }), (e: Error) =>
    e instanceof JobSpecError && /stages\[0\]\.global_batch: 10 is not a multiple of micro_batch 4/.test(e.message),
  );
  // Another service enqueues directly, with a typo in a field name.
  const q = new Queue(JOBS_QUEUE, { connection: redisOptions(REDIS_URL), prefix: cluster.prefix });
  await q.add('train', { schema: 'gradpool.v1.TrainingJob', encoding: 'json', payload: { name: 'x', stages: [{ sequence_len: 3 }] } }, { jobId: 'foreign-1' });
  await q.close();
  await assert.rejects(cluster.client.result('foreign-1'), /stages\[0\]\.sequence_len/);
  assert.equal((await cluster.client.status('foreign-1')).state, 'FAILED');
});

test('a diverging run ends FAILED through the service: the step and the last good checkpoint named, no stack trace', async () => {
  const dir = scratchDir('diverge');
  const job = testJob(dir, { name: 'diverge' }, { max_steps: 30, learning_rate: 10, warmup_steps: 0, max_grad_norm: 0, eval_interval: 0, checkpoint_interval: 1 });
  const id = await cluster.client.submit(job, { worldSize: 2 });
  await assert.rejects(cluster.client.result(id), (e: Error) => /the run diverged/.test(e.message));
  const status = await cluster.client.status(id);
  assert.equal(status.state, 'FAILED');
  assert.match(status.message, /stage 0 step \d+: the run diverged: .*Last good checkpoint: .*last\.pth \(step \d+\)/);
  assert.doesNotMatch(status.message, /\n\s+at /, 'the user sees the message; the stack goes to the worker log');
  assert.ok(!readCurrentLog(join(dir, 'runs', 'diverge')).records.some((r) => r.event === 'end'), 'never "all stages done"');
});

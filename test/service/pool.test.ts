import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { Queue } from 'bullmq';
import { redisOptions } from '../../protocol/redis.ts';
import { JOBS_QUEUE } from '../../protocol/queues.ts';
import { encodeJobEnvelope } from '../../protocol/job-envelope.ts';
import { readCurrentLog } from '../../train/step-log.ts';
import type { JobStatusJson } from '../../protocol/messages.ts';
import { testJob } from '../helpers/test-job.ts';
import { relativeError, scratchDir } from '../helpers/torch-reference.ts';
import { loadTorchFile, stateDictOf } from '../../model/formats/torch-file.ts';
import { runPaths } from '../../train/run-spec.ts';
import { REDIS_URL, startCluster, type Cluster } from './harness.ts';

// The pool on real workers: many runs at once, intake that answers within a
// second however busy the workers are, preemption by priority. A run may be
// preempted after 2 s here (10 min by default), and whenever it helps.
let cluster: Cluster;
let queue: Queue;
before(async () => {
  cluster = await startCluster({ workers: 3, env: { GRADPOOL_MIN_RUN_TIME_MS: '2000', GRADPOOL_PREEMPTION_MIN_GAIN_MS: '0' } });
  queue = new Queue(JOBS_QUEUE, { connection: redisOptions(REDIS_URL), prefix: cluster.prefix });
});
after(async () => {
  await queue.close();
  await cluster.stop();
});

const short = { max_steps: 6, eval_interval: 0, checkpoint_interval: 0 };
// Long enough that a run cannot end before the others of its batch have started.
const together = { max_steps: 12, eval_interval: 0, checkpoint_interval: 0 };
const long = { max_steps: 100000, eval_interval: 0, checkpoint_interval: 0 };

/** True when every run was training at one moment: the last start comes before the first end. */
function overlapped(statuses: JobStatusJson[]): boolean {
  return Math.max(...statuses.map((s) => s.started_at_ms)) < Math.min(...statuses.map((s) => s.finished_at_ms));
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms: number, every = 20): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  for (;;) {
    const value = await read();
    if (ok(value)) return { value, ms: Date.now() - t0 };
    if (Date.now() - t0 > ms) assert.fail(`${what}: not within ${ms} ms; last ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

const running = (id: string) => until(`${id} running`, () => cluster.client.status(id), (s) => s.state === 'RUNNING', 60_000, 100);

test('3 workers, 3 world-size-1 jobs submitted together: all three train at the same time', async () => {
  const dir = scratchDir('pool-three');
  const ids = await Promise.all([0, 1, 2].map((i) => cluster.client.submit(testJob(dir, { name: `one-${i}` }, together), { worldSize: 1 })));
  const results = await Promise.all(ids.map((id) => cluster.client.result(id)));
  for (const r of results) assert.ok(r.finished && r.world_size === 1 && r.attempts === 1, JSON.stringify(r));
  const statuses = await Promise.all(ids.map((id) => cluster.client.status(id)));
  assert.ok(overlapped(statuses), `not concurrent: ${JSON.stringify(statuses.map((s) => [s.started_at_ms, s.finished_at_ms]))}`);
});

test('3 workers: a world-size-2 and a world-size-1 job run at once', async () => {
  const dir = scratchDir('pool-two-one');
  const two = await cluster.client.submit(testJob(dir, { name: 'two' }, together), { worldSize: 2 });
  const one = await cluster.client.submit(testJob(dir, { name: 'one' }, together), { worldSize: 1 });
  const [r2, r1] = await Promise.all([cluster.client.result(two), cluster.client.result(one)]);
  assert.equal(r2.world_size, 2);
  assert.equal(r1.world_size, 1);
  assert.ok(overlapped([await cluster.client.status(two), await cluster.client.status(one)]));
});

test('all workers busy: a bad job and a missing corpus fail within 1 s, a valid job is QUEUED with its place within 1 s', async () => {
  const dir = scratchDir('pool-busy');
  const busy = await Promise.all([0, 1, 2].map((i) => cluster.client.submit(testJob(dir, { name: `busy-${i}` }, long), { worldSize: 1 })));
  await Promise.all(busy.map(running));
  // Another service's job with a typo in a field name, and one whose corpus file is missing.
  const good = testJob(dir, { name: 'queued' }, short);
  await queue.add('train', { schema: 'gradpool.v1.TrainingJob', encoding: 'json', payload: { name: 'x', stages: [{ sequence_len: 3 }] } }, { jobId: 'typo' });
  const missing = encodeJobEnvelope({ ...good, name: 'missing', corpus: { ...good.corpus, train: [`${dir}/nowhere.txt`] } });
  await queue.add('train', missing, { jobId: 'missing' });
  const failedSoon = (id: string) => until(`${id} failed`, () => cluster.client.status(id), (s) => s.state === 'FAILED', 1000);
  const [typo, nofile] = await Promise.all([failedSoon('typo'), failedSoon('missing')]);
  assert.match(typo.value.message, /payload\.stages\[0\]\.sequence_len: unknown field/);
  assert.match(nofile.value.message, new RegExp(`payload\\.corpus\\.train\\[0\\]: ${dir}/nowhere\\.txt does not exist`));
  await assert.rejects(cluster.client.result('missing'), /nowhere\.txt does not exist/);
  const id = await cluster.client.submit(good, { worldSize: 1 });
  const queued = await until('QUEUED with a place', () => cluster.client.status(id), (s) => s.queue_position > 0, 1000);
  assert.equal(queued.value.state, 'QUEUED');
  assert.equal(queued.value.queue_position, 1);
  assert.equal(queued.value.queue_reason, 'no free workers');
  // A resubmitted id is refused, not silently dropped.
  await assert.rejects(cluster.client.submit(good, { worldSize: 1, id }), /job id .* is already used/);
  // Cancelling the queued run ends it; the busy runs' cancel frees the pool.
  await cluster.client.cancel(id);
  assert.equal((await cluster.client.result(id)).cancelled, true);
  // A foreign service that only sets the cancel key (no channel message) is heard within seconds.
  const other = await cluster.client.submit(testJob(dir, { name: 'queued-2' }, short), { worldSize: 1 });
  await cluster.redis.set(`${cluster.prefix}:cancel:${other}`, '1', 'EX', 60);
  await until('cancelled by key', () => cluster.client.status(other), (s) => s.state === 'CANCELLED', 8000, 100);
  // A running run cancelled the same way: the coordinator's sweep finds the key and stops its rank.
  await cluster.redis.set(`${cluster.prefix}:cancel:${busy[0]}`, '1', 'EX', 60);
  await until('running run cancelled by key', () => cluster.client.status(busy[0]!), (s) => s.state === 'CANCELLED', 20_000, 100);
  await Promise.all(busy.slice(1).map((b) => cluster.client.cancel(b)));
  const ended = await Promise.all(busy.map((b) => cluster.client.result(b)));
  assert.ok(ended.every((r) => r.cancelled), JSON.stringify(ended));
});

test('a priority-1 job preempts a running priority-5 run; the paused run resumes by itself and completes, every step logged once', async () => {
  const dir = scratchDir('pool-preempt');
  const low = await cluster.client.submit(testJob(dir, { name: 'low' }, { max_steps: 40, eval_interval: 0, checkpoint_interval: 0, global_batch: 12 }), { worldSize: 3, priority: 5 });
  await until('low trains', () => cluster.client.status(low), (s) => (s.progress?.step ?? 0) >= 2, 60_000, 100);
  const high = await cluster.client.submit(testJob(dir, { name: 'high' }, short), { worldSize: 1, priority: 1 });
  const hr = await cluster.client.result(high);
  assert.ok(hr.finished);
  const lr = await cluster.client.result(low);
  assert.ok(lr.finished, JSON.stringify(lr));
  assert.ok(lr.attempts >= 2, `attempts ${lr.attempts}: low was not preempted`);
  const log = readCurrentLog(lr.run_dir);
  assert.deepEqual(log.steps.map((s) => s.globalStep), Array.from({ length: 40 }, (_, i) => i + 1), 'every step once, as it stands');
  assert.ok(log.records.some((r) => r.event === 'pause'), 'low paused at an optimizer step');
  assert.ok(log.resumes.length >= 1, 'a resume record marks where it went on');
  assert.ok((await cluster.client.status(high)).finished_at_ms < (await cluster.client.status(low)).finished_at_ms);
});

/** The worker process serving rank `rank` of a run, and its rank process. */
async function processesOf(runId: string, rank: number): Promise<number[]> {
  const { value: keys } = await until(`${runId} rank ${rank} placed`, async () => {
    const ks = await cluster.redis.keys(`${cluster.prefix}:worker:*`);
    const vals = ks.length ? await cluster.redis.mget(ks) : [];
    return vals.map((v) => JSON.parse(v!) as { pid: number; busy: string | null }).filter((w) => w.busy === `${runId}#${rank}`);
  }, (w) => w.length === 1, 10_000, 100);
  const pid = keys[0]!.pid;
  const children = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  return [pid, ...children];
}

test('kill -9 of a worker (and its rank) of a 2-rank run with a spare worker: the run resumes by itself and completes', async () => {
  const dir = scratchDir('pool-kill');
  const id = await cluster.client.submit(testJob(dir, { name: 'killed' }, { max_steps: 20, eval_interval: 0, checkpoint_interval: 4 }), { worldSize: 2 });
  await until('killed trains', () => cluster.client.status(id), (s) => (s.progress?.step ?? 0) >= 5, 60_000, 50);
  for (const pid of await processesOf(id, 1)) process.kill(pid, 'SIGKILL');
  const t0 = Date.now();
  await until('training again', () => cluster.client.status(id), (s) => s.attempt >= 2 && s.state === 'RUNNING', 30_000, 100);
  const recoveredS = (Date.now() - t0) / 1000;
  const r = await cluster.client.result(id);
  assert.ok(r.finished, JSON.stringify(r));
  assert.equal(r.world_size, 2, 'resumed on the survivor and the spare');
  assert.equal(r.attempts, 2);
  assert.deepEqual(readCurrentLog(r.run_dir).steps.map((s) => s.globalStep), Array.from({ length: 20 }, (_, i) => i + 1));
  console.log(`# kill -9 → training again in ${recoveredS.toFixed(1)} s`);
});

test('no spare worker and min_world_size 1: a run that loses a rank continues at world size 1, and its weights equal an uninterrupted run', async () => {
  // The pool has two workers now (one was killed above).
  const dir = scratchDir('pool-elastic');
  const model = {
    config: { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 },
  };
  const stage = { max_steps: 20, eval_interval: 0, checkpoint_interval: 4 };
  const reference = await cluster.client.result(await cluster.client.submit(testJob(dir, { name: 'whole', model }, stage), { worldSize: 2 }));
  const id = await cluster.client.submit(testJob(dir, { name: 'elastic', model }, stage), { worldSize: 2, service: { min_world_size: 1 } });
  await until('elastic trains', () => cluster.client.status(id), (s) => (s.progress?.step ?? 0) >= 5, 60_000, 50);
  for (const pid of await processesOf(id, 1)) process.kill(pid, 'SIGKILL');
  const r = await cluster.client.result(id);
  assert.ok(r.finished, JSON.stringify(r));
  assert.equal(r.world_size, 1, 'it went on at world size 1');
  const log = readCurrentLog(r.run_dir);
  assert.deepEqual(log.steps.map((s) => s.globalStep), Array.from({ length: 20 }, (_, i) => i + 1));
  assert.ok(log.records.some((x) => x.event === 'world-size' && x.from === 2 && x.to === 1), 'the log says where the world size changed');
  const { worstWeight, worstKeyBias } = compareWeights(runPaths(reference.run_dir).last, runPaths(r.run_dir).last);
  console.log(`# elastic 2 → 1: worst weight relative error ${worstWeight.toExponential(2)}, key bias ${worstKeyBias.toExponential(2)} of the norm`);
  // The 1 ≡ N tolerances of equivalence.test.ts.
  assert.ok(worstWeight < 8e-6, `weights differ: ${worstWeight}`);
  assert.ok(worstKeyBias < 5e-7, `key bias differs: ${worstKeyBias}`);
});

/** Worst relative error per tensor; the attention key bias (zero gradient in exact arithmetic) against the model's norm. */
function compareWeights(a: string, b: string): { worstWeight: number; worstKeyBias: number } {
  const w1 = stateDictOf(loadTorchFile(a), a);
  const w2 = stateDictOf(loadTorchFile(b), b);
  let total = 0;
  for (const t of w1.values()) for (const x of t.data) total += x * x;
  total = Math.sqrt(total);
  let worstWeight = 0;
  let worstKeyBias = 0;
  for (const [name, t] of w1) {
    if (name.endsWith('attention.self.key.bias')) {
      let d = 0;
      t.data.forEach((x, i) => (d += (x - w2.get(name)!.data[i]!) ** 2));
      worstKeyBias = Math.max(worstKeyBias, Math.sqrt(d) / total);
    } else worstWeight = Math.max(worstWeight, relativeError(w2.get(name)!.data, t.data));
  }
  return { worstWeight, worstKeyBias };
}

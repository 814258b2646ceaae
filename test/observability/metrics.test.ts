import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Queue } from 'bullmq';
import { Registry, Counter } from 'prom-client';
import { metricsAddressFromEnv, startMetricsServer } from '../../common/metrics-server.ts';
import { mergeExpositions } from '../../coordinator/http/coordinator-metrics.ts';
import { JOB_NAME, JOBS_QUEUE } from '../../protocol/queues.ts';
import { queueConnection } from '../../protocol/redis.ts';
import { testJob } from '../helpers/test-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';
import { REDIS_URL, startCluster, type Cluster } from '../service/harness.ts';
import { freePort, samples, until } from './helpers.ts';

// A real coordinator and worker (separate processes), each serving /metrics on a port of its own.
let cluster: Cluster;
let coordinatorUrl: string;
let workerUrl: string;
before(async () => {
  const [cp, wp] = await Promise.all([freePort(), freePort()]);
  coordinatorUrl = `http://127.0.0.1:${cp}`;
  workerUrl = `http://127.0.0.1:${wp}`;
  cluster = await startCluster({ workers: 0, env: { GRADPOOL_METRICS_PORT: String(cp) } });
  cluster.addWorker({ GRADPOOL_METRICS_PORT: String(wp) });
  await until('the worker to register', 20_000, async () => (await cluster.redis.keys(`${cluster.prefix}:worker:*`)).length === 1);
});
after(async () => {
  await cluster.stop();
});

const scrape = async (url: string) => {
  const r = await fetch(`${url}/metrics`);
  assert.equal(r.status, 200);
  return r.text();
};

test('during a run: the worker exports the run\'s tokens/s, loss and step split; the coordinator the pool and the queues', async () => {
  const dir = scratchDir('metrics-run');
  // Far more steps than the test waits for (it cancels the run), so the scrapes happen during it on any machine.
  const job = testJob(dir, { name: 'metrics' }, { max_steps: 5000, eval_interval: 10, max_eval_samples: 8, checkpoint_interval: 10 });
  const id = await cluster.client.submit(job, { worldSize: 1 });
  // While it trains (status RUNNING), both endpoints show it.
  const w = await until('the run\'s step metrics on the worker', 60_000, async () => {
    const text = await scrape(workerUrl);
    return samples(text, 'gradpool_rank_tokens_per_second').some((s) => s.labels.run === id) ? text : null;
  });
  const c = await until('a busy worker and an active run job on the coordinator', 30_000, async () => {
    const text = await scrape(coordinatorUrl);
    const busy = samples(text, 'gradpool_workers').find((s) => s.labels.state === 'busy' && s.labels.device === 'cpu');
    const active = samples(text, 'bullmq_job_count').find((s) => s.labels.queue === JOBS_QUEUE && s.labels.state === 'active');
    return busy?.value === 1 && active?.value === 1 ? text : null;
  });
  assert.equal((await cluster.client.status(id)).state, 'RUNNING', 'the scrapes were meant to happen during the run');

  const of = (text: string, name: string) => samples(text, name).filter((s) => s.labels.run === id && s.labels.rank === '0');
  assert.ok(of(w, 'gradpool_rank_tokens_per_second')[0]!.value > 0);
  assert.ok(of(w, 'gradpool_rank_samples_per_second')[0]!.value > 0);
  const loss = of(w, 'gradpool_rank_loss')[0]!.value;
  assert.ok(loss > 0 && loss < 20, `loss ${loss}`);
  assert.ok(of(w, 'gradpool_rank_learning_rate')[0]!.value > 0);
  assert.ok(of(w, 'gradpool_rank_steps_total')[0]!.value >= 1);
  assert.ok(of(w, 'gradpool_rank_peak_rss_bytes')[0]!.value > 50e6);
  assert.equal(of(w, 'gradpool_rank_restarts')[0]!.value, 0);
  const phases = new Map(of(w, 'gradpool_rank_step_phase_seconds_total').map((s) => [s.labels.phase, s.value]));
  assert.deepEqual([...phases.keys()].sort(), ['all_reduce', 'checkpoint', 'data', 'forward_backward', 'optimizer']);
  assert.ok(phases.get('forward_backward')! > 0 && phases.get('optimizer')! > 0 && phases.get('data')! > 0);
  assert.equal(samples(w, 'gradpool_rank_mfu').length, 0, 'no MFU without GRADPOOL_PEAK_TFLOPS');
  assert.ok(samples(w, 'process_resident_memory_bytes')[0]!.value > 0, 'default process metrics');
  assert.ok(samples(w, 'nodejs_eventloop_lag_seconds').length === 1);

  assert.equal(samples(c, 'gradpool_runs').find((s) => s.labels.state === 'RUNNING')?.value, 1);
  // BullMQ's own exposition, one HELP per family although two queues export it.
  assert.equal(c.split('\n').filter((l) => l === '# HELP bullmq_job_count Number of jobs in the queue by state').length, 1);
  assert.ok(samples(c, 'bullmq_job_count').some((s) => s.labels.queue?.startsWith('gradpool-ranks.') && s.labels.prefix === cluster.prefix));

  // Its evaluation figures and timed checkpoints, once the first evaluation (step 10) is in.
  const w2 = await until('an evaluation and a checkpoint on the worker', 60_000, async () => {
    const text = await scrape(workerUrl);
    const ckpt = of(text, 'gradpool_rank_step_phase_seconds_total').find((s) => s.labels.phase === 'checkpoint');
    return of(text, 'gradpool_rank_eval_perplexity').length && ckpt && ckpt.value > 0 ? text : null;
  });
  const ppl = of(w2, 'gradpool_rank_eval_perplexity')[0]!.value;
  assert.ok(ppl > 1 && Number.isFinite(ppl), `perplexity ${ppl}`);
  const acc = of(w2, 'gradpool_rank_eval_masked_accuracy')[0]!.value;
  assert.ok(acc >= 0 && acc <= 1);
  await cluster.client.cancel(id);
  const result = await cluster.client.result(id);
  assert.ok(result.cancelled);
  const c2 = await scrape(coordinatorUrl);
  assert.equal(samples(c2, 'gradpool_scheduling_wait_seconds_count')[0]?.value, 1);
  assert.equal(samples(c2, 'gradpool_runs').find((s) => s.labels.state === 'CANCELLED')?.value, 1);
  // One scrape is one consistent read: the worker is idle again in the very first one after the run.
  const idle = samples(c2, 'gradpool_workers').find((s) => s.labels.state === 'idle' && s.labels.device === 'cpu');
  assert.equal(idle?.value, 1, c2);
  const health = await fetch(`${coordinatorUrl}/healthz`);
  assert.equal(health.status, 200);
  assert.equal((await fetch(`${workerUrl}/healthz`)).status, 200);
});

test('a job the intake refuses counts as an intake rejection with its reason', async () => {
  const q = new Queue(JOBS_QUEUE, { connection: queueConnection(REDIS_URL), prefix: cluster.prefix });
  try {
    // Another service's job with a wrong field type: the schema check refuses it.
    await q.add(JOB_NAME, { schema: 'gradpool.v1.TrainingJob', encoding: 'json', payload: { name: 'bad', stages: [{ seq_len: 'long' }] } }, { jobId: 'bad-job' });
    await until('the rejection in /metrics', 20_000, async () => {
      const text = await scrape(coordinatorUrl);
      return samples(text, 'gradpool_intake_rejections_total').find((s) => s.labels.reason === 'invalid_job')?.value === 1;
    });
  } finally {
    await q.close();
  }
});

test('the endpoint: token on everything but /healthz, merged expositions, port rules', async () => {
  const registry = new Registry();
  new Counter({ name: 'probe_total', help: 'a counter', registers: [registry] }).inc(3);
  const port = await freePort();
  const server = await startMetricsServer({
    address: { host: '127.0.0.1', port },
    registry,
    extraMetrics: async () => '# HELP extra_gauge e\n# TYPE extra_gauge gauge\nextra_gauge 2',
    health: async () => ({ ok: true, detail: 'fine' }),
    token: 's3cret',
    log: () => {},
  });
  assert.ok(server);
  try {
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${base}/metrics`)).status, 401);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ok = await fetch(`${base}/metrics`, { headers: { Authorization: 'Bearer s3cret' } });
    assert.equal(ok.status, 200);
    const text = await ok.text();
    assert.equal(samples(text, 'probe_total')[0]!.value, 3);
    assert.equal(samples(text, 'extra_gauge')[0]!.value, 2);
    const viaQuery = await fetch(`${base}/metrics?token=s3cret`);
    assert.equal(viaQuery.status, 200);
    const cookie = viaQuery.headers.get('set-cookie')!.split(';')[0]!;
    assert.equal((await fetch(`${base}/nothing`, { headers: { cookie } })).status, 404);
    // A second server on a taken port: a log line, no crash.
    const lines: string[] = [];
    const taken = await startMetricsServer({ address: { host: '127.0.0.1', port }, registry, health: async () => ({ ok: true, detail: '' }), log: (l) => lines.push(l) });
    assert.equal(taken, null);
    assert.match(lines[0]!, /EADDRINUSE/);
  } finally {
    await server.close();
  }
  const merged = mergeExpositions(['# HELP a x\n# TYPE a gauge\na{q="1"} 1', '# HELP a x\n# TYPE a gauge\na{q="2"} 2']);
  assert.equal(merged, '# HELP a x\n# TYPE a gauge\na{q="1"} 1\na{q="2"} 2');
  assert.deepEqual(metricsAddressFromEnv(9464, {}), { host: '127.0.0.1', port: 9464 });
  assert.equal(metricsAddressFromEnv(9464, { GRADPOOL_METRICS_PORT: '0' }), null);
  assert.deepEqual(metricsAddressFromEnv(9465, { GRADPOOL_METRICS_HOST: '0.0.0.0' }), { host: '0.0.0.0', port: 9465 });
  assert.throws(() => metricsAddressFromEnv(9464, { GRADPOOL_METRICS_PORT: 'high' }), /GRADPOOL_METRICS_PORT: a port number/);
});

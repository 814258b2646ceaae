/**
 * Failure semantics: a rank SIGKILLed mid all-reduce, a rank that never
 * joins, stale keys of an earlier run, mismatched calls, abort and rebuild.
 * Every case must end in an error naming the rank, within bounded time, with
 * no process hanging and nothing left in /dev/shm or Redis.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Communicator, keyPrefix, loadNative, type BackendName } from '../../native/index.ts';
import type { Plan, Report } from './fixtures/worker.ts';
import {
  REDIS_URL, freshRunId, keysGoneWithin, leftoverKeys, leftoverSegments, seed, spawnWorld, stepFailures, uniformPlans,
} from './harness.ts';

const glooBuilt = (() => {
  try {
    return loadNative().features.gloo;
  } catch {
    return false;
  }
})();

async function killMidAllReduce(backend: BackendName, log: (msg: string) => void) {
  const world = 3;
  const victim = 1;
  const timeoutMs = 4000;
  const runId = freshRunId(`kill-${backend}`);
  const plans = uniformPlans(world, {
    backend, runId, timeoutMs, shm: { chunkBytes: 256 * 1024 },
    steps: [{ kind: 'loop', n: 4_000_000, zeroCopy: backend === 'shm' }],
  });
  let killedAt = 0;
  const errorAt = new Map<number, number>();
  const run = await spawnWorld(plans, {
    watchdogMs: 60_000,
    onReport: (rank, r: Report, children) => {
      if (rank === victim && r.type === 'progress' && r.iterations === 3 && killedAt === 0) {
        killedAt = Date.now();
        children[victim]!.kill('SIGKILL');
      }
      if (r.type === 'error') errorAt.set(rank, Date.now());
    },
  });
  assert.equal(run.hung, false, 'a worker hung');
  assert.ok(killedAt > 0, 'victim never made progress');
  assert.equal(run.results[victim]!.signal, 'SIGKILL');
  for (const r of run.results) {
    if (r.rank === victim) continue;
    const err = r.reports.find((m) => m.type === 'error');
    assert.ok(err && err.type === 'error', `rank ${r.rank} got no error`);
    assert.equal(err.rank, victim, `rank ${r.rank}: ${err.code} ${err.message}`);
    assert.match(err.message, new RegExp(`rank ${victim}\\b`));
    assert.ok(['PEER_DIED', 'TIMEOUT'].includes(err.code), err.code);
    const latency = errorAt.get(r.rank)! - killedAt;
    log(`rank ${r.rank} after ${latency} ms: ${err.code} ${err.message}`);
    assert.ok(latency < 2 * timeoutMs, `rank ${r.rank} noticed after ${latency} ms`);
    assert.ok(r.reports.some((m) => m.type === 'done'), `rank ${r.rank} did not finish`);
    assert.equal(r.exitCode, 0);
  }
  assert.deepEqual(await leftoverKeys(runId), []);
  assert.deepEqual(leftoverSegments(runId), []);
}

describe('faults', () => {
  it('shm: a rank SIGKILLed mid all-reduce is named, nothing leaks', (t) => killMidAllReduce('shm', (m) => t.diagnostic(m)));

  it('gloo: a rank SIGKILLed mid all-reduce is named, nothing leaks', { skip: !glooBuilt && 'gloo not built' }, (t) =>
    killMidAllReduce('gloo', (m) => t.diagnostic(m)));

  it('rendezvous: a rank that never comes times out with its rank named', async () => {
    const runId = freshRunId('absent');
    const t0 = Date.now();
    await assert.rejects(
      Communicator.init({ backend: 'shm', rank: 0, worldSize: 3, runId, timeoutMs: 1500, rendezvous: { redisUrl: REDIS_URL } }),
      (e: { code: string; rank: number; message: string }) =>
        e.code === 'RENDEZVOUS' && e.rank === 1 && /rank\(s\) 1, 2/.test(e.message),
    );
    assert.ok(Date.now() - t0 < 10_000);
    await assert.rejects(
      Communicator.init({ backend: 'shm', rank: 1, worldSize: 2, runId, timeoutMs: 1000, rendezvous: { redisUrl: REDIS_URL } }),
      (e: { code: string; rank: number; message: string }) => e.code === 'RENDEZVOUS' && e.rank === 0 && /rank 0/.test(e.message),
    );
    assert.deepEqual(await keysGoneWithin(runId, 6000), []);
  });

  it('stale keys of an earlier run with the same run id cause no cross-talk', async () => {
    const runId = freshRunId('stale');
    const prefix = keyPrefix(runId);
    const redis = new Redis(REDIS_URL);
    const old = 'deadbeef0001';
    const ghost = (rank: number) => ({ rank, worldSize: 2, nonce: 'old', host: 'ghost', hostKey: 'ghost/1', pid: 1, pidns: 'x', requested: 'gloo', nccl: false, gloo: true });
    await redis.set(`${prefix}gen`, old, 'PX', 60_000);
    await redis.set(`${prefix}${old}:join:0`, JSON.stringify(ghost(0)), 'PX', 60_000);
    await redis.set(`${prefix}${old}:join:1`, JSON.stringify(ghost(1)), 'PX', 60_000);
    await redis.set(`${prefix}${old}:roster`, JSON.stringify({ generation: old, worldSize: 2, peers: [ghost(0), ghost(1)], decision: { backend: 'gloo' } }), 'PX', 60_000);
    await redis.set(`${prefix}${old}:gloo:0`, JSON.stringify({ value: ['', 'AAAA'] }), 'PX', 60_000);
    const s = seed();
    const plans = uniformPlans(2, { backend: 'shm', runId, timeoutMs: 15_000, steps: [{ kind: 'allreduce', n: 1000, op: 'sum', seed: s }] });
    plans[0]!.startDelayMs = 1500; // rank 1 meets the stale generation first
    const run = await spawnWorld(plans, { watchdogMs: 60_000 });
    assert.deepEqual(stepFailures(run), []);
    for (const r of run.results) {
      const ready = r.reports.find((m) => m.type === 'ready');
      assert.ok(ready && ready.type === 'ready');
      assert.notEqual((ready.describe as { generation: string }).generation, old);
    }
    // Rank 0 swept the stale generation once the new one was up.
    assert.deepEqual(await leftoverKeys(runId), []);
    redis.disconnect();
  });

  for (const backend of ['shm', ...(glooBuilt ? ['gloo'] : [])] as BackendName[]) {
    it(`${backend}: mismatched lengths are reported on every rank`, async () => {
      const runId = freshRunId(`mm-${backend}`);
      const plans = uniformPlans(2, { backend, runId, timeoutMs: 10_000, steps: [{ kind: 'lengthByRank', base: 100 }] });
      const run = await spawnWorld(plans, { watchdogMs: 60_000 });
      assert.equal(run.hung, false);
      for (const r of run.results) {
        const err = r.reports.find((m) => m.type === 'error');
        assert.ok(err && err.type === 'error', `rank ${r.rank}: no error`);
        assert.equal(err.code, 'MISMATCH', err.message);
        assert.match(err.message, /100 floats/);
        assert.match(err.message, /101 floats/);
      }
      assert.deepEqual(await leftoverKeys(runId), []);
      assert.deepEqual(leftoverSegments(runId), []);
    });
  }

  it('mismatched world sizes are reported', async () => {
    const runId = freshRunId('mmworld');
    const plans: Plan[] = [0, 1].map((rank) => ({
      rank,
      comms: [{ backend: 'shm', runId, worldSize: rank === 0 ? 2 : 3, timeoutMs: 8000, rendezvous: { redisUrl: REDIS_URL }, steps: [] }],
    }));
    const run = await spawnWorld(plans, { watchdogMs: 60_000 });
    assert.equal(run.hung, false);
    for (const r of run.results) {
      const err = r.reports.find((m) => m.type === 'error');
      assert.ok(err && err.type === 'error', `rank ${r.rank}: no error`);
      assert.equal(err.code, 'MISMATCH', err.message);
      assert.match(err.message, /world size mismatch/);
    }
    assert.deepEqual(await keysGoneWithin(runId, 6000), []);
  });

  it('abort fails the peers, and the run can build a new communicator', async () => {
    const runId = freshRunId('abort');
    const s = seed();
    const plans: Plan[] = [0, 1].map((rank) => ({
      rank,
      comms: [
        {
          backend: 'shm', runId, worldSize: 2, timeoutMs: 10_000, rendezvous: { redisUrl: REDIS_URL },
          steps: rank === 0 ? [{ kind: 'abort' }, { kind: 'barrier' }] : [{ kind: 'allreduce', n: 1000, op: 'sum', seed: s }],
        },
        { backend: 'shm', runId, worldSize: 2, timeoutMs: 10_000, rendezvous: { redisUrl: REDIS_URL }, steps: [{ kind: 'allreduce', n: 1000, op: 'sum', seed: s }] },
      ],
    }));
    const run = await spawnWorld(plans, { watchdogMs: 60_000 });
    assert.equal(run.hung, false);
    const err0 = run.results[0]!.reports.find((m) => m.type === 'error' && m.comm === 0);
    const err1 = run.results[1]!.reports.find((m) => m.type === 'error' && m.comm === 0);
    assert.ok(err0 && err0.type === 'error' && ['BROKEN', 'ABORTED'].includes(err0.code), JSON.stringify(err0));
    assert.ok(err1 && err1.type === 'error' && err1.code === 'ABORTED' && err1.rank === 0, JSON.stringify(err1));
    for (const r of run.results) {
      const rebuilt = r.reports.find((m) => m.type === 'step' && m.comm === 1);
      assert.ok(rebuilt && rebuilt.type === 'step' && rebuilt.ok, `rank ${r.rank} could not rebuild`);
    }
    assert.deepEqual(await leftoverKeys(runId), []);
    assert.deepEqual(leftoverSegments(runId), []);
  });
});

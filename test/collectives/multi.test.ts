/** Two communicators in one process, used concurrently; and backend 'auto'. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadNative, type BackendChoice } from '../../native/index.ts';
import type { Plan, Step } from './fixtures/worker.ts';
import { REDIS_URL, freshRunId, leftoverKeys, leftoverSegments, seed, spawnWorld, stepFailures } from './harness.ts';

const glooBuilt = (() => {
  try {
    return loadNative().features.gloo;
  } catch {
    return false;
  }
})();

describe('several communicators', () => {
  it('two communicators of one run in each process, concurrently', async () => {
    const runId = freshRunId('two');
    const second: BackendChoice = glooBuilt ? 'gloo' : 'shm';
    const stepsA: Step[] = [
      { kind: 'allreduce', n: 1_000_003, op: 'sum', seed: seed(), zeroCopy: true },
      { kind: 'broadcast', n: 77, root: 1, seed: seed() },
      { kind: 'allreduce', n: 7, op: 'avg', seed: seed() },
    ];
    const stepsB: Step[] = [
      { kind: 'allreduce', n: 1_000_003, op: 'avg', seed: seed() },
      { kind: 'barrier' },
      { kind: 'allreduce', n: 1, op: 'sum', seed: seed() },
    ];
    const plans: Plan[] = [0, 1].map((rank) => ({
      rank,
      concurrent: true,
      comms: [
        { backend: 'shm', tag: 'grads', runId, worldSize: 2, timeoutMs: 20_000, rendezvous: { redisUrl: REDIS_URL }, steps: stepsA },
        { backend: second, tag: 'extra', runId, worldSize: 2, timeoutMs: 20_000, rendezvous: { redisUrl: REDIS_URL }, steps: stepsB },
      ],
    }));
    const run = await spawnWorld(plans, { watchdogMs: 90_000 });
    assert.deepEqual(stepFailures(run), []);
    for (const r of run.results) {
      const oks = r.reports.filter((m) => m.type === 'step' && m.ok);
      assert.equal(oks.length, stepsA.length + stepsB.length);
      const gens = r.reports.flatMap((m) => (m.type === 'ready' ? [(m.describe as { generation: string }).generation] : []));
      assert.equal(new Set(gens).size, 2);
    }
    assert.deepEqual(await leftoverKeys(runId, 'grads'), []);
    assert.deepEqual(await leftoverKeys(runId, 'extra'), []);
    assert.deepEqual(leftoverSegments(runId, 'grads'), []);
  });

  it("backend 'auto' picks shm for ranks on one machine without NCCL", async () => {
    const runId = freshRunId('auto');
    const s = seed();
    const plans: Plan[] = [0, 1, 2].map((rank) => ({
      rank,
      comms: [{ backend: 'auto', runId, worldSize: 3, timeoutMs: 20_000, rendezvous: { redisUrl: REDIS_URL }, steps: [{ kind: 'allreduce', n: 1000, op: 'sum', seed: s }] }],
    }));
    const run = await spawnWorld(plans, { watchdogMs: 60_000 });
    assert.deepEqual(stepFailures(run), []);
    const probe = loadNative().ncclProbe();
    for (const r of run.results) {
      const ready = r.reports.find((m) => m.type === 'ready');
      assert.ok(ready && ready.type === 'ready');
      assert.equal(ready.backend, probe.ok ? 'nccl' : 'shm');
      const d = ready.describe as { versions: Record<string, string>; device: string; worldSize: number };
      assert.equal(d.worldSize, 3);
      assert.ok(d.versions.node);
    }
  });
});

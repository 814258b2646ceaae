/**
 * shm backend: 2, 3 and 4 ranks on this machine, all-reduce (sum, avg),
 * broadcast and barrier against a float64 reference, with private buffers,
 * zero-copy shared buffers and a mix of both; repeated collectives on one
 * communicator; a chunked 110M-float all-reduce.
 */
import assert from 'node:assert/strict';
import { statfsSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Step } from './fixtures/worker.ts';
import { freshRunId, leftoverKeys, leftoverSegments, seed, spawnWorld, stepCount, stepFailures, uniformPlans } from './harness.ts';

const LENGTHS = [0, 1, 7, 1_000_003];

function coreSteps(world: number, zeroCopy: boolean): Step[] {
  const steps: Step[] = [];
  for (const n of LENGTHS) {
    steps.push({ kind: 'allreduce', n, op: 'sum', seed: seed(), zeroCopy });
    steps.push({ kind: 'allreduce', n, op: 'avg', seed: seed(), zeroCopy });
  }
  steps.push({ kind: 'barrier' });
  for (const n of [1, 7, 1_000_003]) steps.push({ kind: 'broadcast', n, root: n % world, seed: seed(), zeroCopy });
  steps.push({ kind: 'broadcast', n: 0, root: world - 1, seed: seed(), zeroCopy });
  steps.push({ kind: 'barrier' });
  return steps;
}

async function runShm(label: string, world: number, steps: (rank: number) => Step[], chunkBytes?: number) {
  const runId = freshRunId(label);
  const plans = uniformPlans(world, { backend: 'shm', runId, timeoutMs: 20_000, steps: [], ...(chunkBytes ? { shm: { chunkBytes } } : {}) });
  for (const p of plans) p.comms[0]!.steps = steps(p.rank);
  const run = await spawnWorld(plans, { watchdogMs: 120_000 });
  assert.deepEqual(stepFailures(run), []);
  assert.equal(stepCount(run), plans.reduce((n, p) => n + p.comms[0]!.steps.length, 0));
  for (const r of run.results) {
    const ready = r.reports.find((m) => m.type === 'ready');
    assert.equal(ready?.type === 'ready' && ready.backend, 'shm');
  }
  assert.deepEqual(await leftoverKeys(runId), []);
  assert.deepEqual(leftoverSegments(runId), []);
}

describe('shm backend', () => {
  for (const world of [2, 3, 4]) {
    it(`${world} ranks: private buffers, repeated collectives`, async () => {
      const steps = coreSteps(world, false);
      // Small chunks force the chunked path on the 1M case.
      await runShm(`shm${world}`, world, () => steps, 256 * 1024);
    });
  }

  it('3 ranks: zero-copy shared buffers', async () => {
    const steps = coreSteps(3, true);
    await runShm('shmzc', 3, () => steps);
  });

  it('2 ranks: one zero-copy rank, one private', async () => {
    const s = seed();
    const b = seed();
    await runShm('shmmix', 2, (rank) => [
      { kind: 'allreduce', n: 1_000_003, op: 'sum', seed: s, zeroCopy: rank === 0 },
      { kind: 'broadcast', n: 1_000_003, root: 0, seed: b, zeroCopy: rank === 0 },
      { kind: 'broadcast', n: 1_000_003, root: 1, seed: b, zeroCopy: rank === 0 },
    ]);
  });

  it('2 ranks: 110M floats (chunked) and zero-copy', async (t) => {
    const n = 110_000_000;
    const steps: Step[] = [{ kind: 'allreduce', n, op: 'sum', seed: seed() }];
    // Zero-copy needs both 440 MB buffers in /dev/shm (Docker's default is 64 MB).
    const st = statfsSync('/dev/shm');
    if (st.bavail * st.bsize > 2 * n * 4 + (256 << 20)) steps.push({ kind: 'allreduce', n, op: 'avg', seed: seed(), zeroCopy: true });
    else t.diagnostic('/dev/shm too small for 2 x 440 MB zero-copy buffers: chunked copy path only');
    await runShm('shm110m', 2, () => steps);
  });
});

/**
 * gloo backend (TCP on loopback): 2, 3 and 4 ranks against the float64
 * reference, repeated collectives, and a 110M-float all-reduce with 2 ranks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadNative } from '../../native/index.ts';
import type { Step } from './fixtures/worker.ts';
import { freshRunId, leftoverKeys, seed, spawnWorld, stepCount, stepFailures, uniformPlans } from './harness.ts';

const glooBuilt = (() => {
  try {
    return loadNative().features.gloo;
  } catch {
    return false;
  }
})();

async function runGloo(label: string, world: number, steps: Step[]) {
  const runId = freshRunId(label);
  const plans = uniformPlans(world, { backend: 'gloo', runId, timeoutMs: 30_000, steps });
  const run = await spawnWorld(plans, { watchdogMs: 150_000 });
  assert.deepEqual(stepFailures(run), []);
  assert.equal(stepCount(run), world * steps.length);
  assert.deepEqual(await leftoverKeys(runId), []);
}

describe('gloo backend', { skip: glooBuilt ? false : 'addon built without gloo (libgloo-dev missing)' }, () => {
  for (const world of [2, 3, 4]) {
    it(`${world} ranks: sum, avg, broadcast, barrier, repeated`, async () => {
      const steps: Step[] = [];
      for (const n of [0, 1, 7, 1_000_003]) {
        steps.push({ kind: 'allreduce', n, op: 'sum', seed: seed() });
        steps.push({ kind: 'allreduce', n, op: 'avg', seed: seed() });
      }
      steps.push({ kind: 'barrier' });
      for (const n of [0, 1, 7, 1_000_003]) steps.push({ kind: 'broadcast', n, root: (n + 1) % world, seed: seed() });
      steps.push({ kind: 'barrier' });
      await runGloo(`gloo${world}`, world, steps);
    });
  }

  it('2 ranks: 110M floats', async () => {
    await runGloo('gloo110m', 2, [{ kind: 'allreduce', n: 110_000_000, op: 'sum', seed: seed() }]);
  });
});

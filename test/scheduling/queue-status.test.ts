import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queuedRunStatus, queueStatus } from '../../coordinator/scheduling/index.ts';
import { MIN, PoolDriver } from './driver.ts';

const reasons = (pool: PoolDriver) => queueStatus(pool.state).map((s) => [s.runId, s.position, s.reason]);

test('every busy: "no free workers", positions in queue order', () => {
  const pool = new PoolDriver(2, { agingIntervalMs: Infinity });
  pool.add('a', { worldSizes: [2] });
  pool.add('x', { priority: 5 });
  pool.add('y', { priority: 2 });
  assert.deepEqual(reasons(pool), [
    ['y', 1, 'no free workers'],
    ['x', 2, 'no free workers'],
  ]);
  assert.deepEqual(queuedRunStatus(pool.state, 'x'), { runId: 'x', position: 2, reason: 'no free workers', priority: 5, effectivePriority: 5 });
  assert.equal(queuedRunStatus(pool.state, 'a'), null, 'running, not queued');
});

test('"waiting for N workers", "behind priority P", and a gang larger than the pool', () => {
  const pool = new PoolDriver(4, { agingIntervalMs: Infinity, preemption: false });
  pool.add('running', { worldSizes: [3] });
  pool.add('head', { worldSizes: [4], priority: 1 });
  pool.add('small', { priority: 5 });
  pool.add('huge', { worldSizes: [8], priority: 5 });
  // The head needs 4 (1 free); when 'running' ends it gets exactly 4, so the free worker is held for it.
  assert.deepEqual(reasons(pool), [
    ['head', 1, 'waiting for 3 workers'],
    ['small', 2, 'behind priority 1'],
    ['huge', 3, 'waiting for 7 workers (the pool has 4)'],
  ]);
});

test('while preempted runs stop, the head says how many workers are being freed', () => {
  const pool = new PoolDriver(3, { minRunTimeMs: 0 });
  pool.add('low', { priority: 5, worldSizes: [2] });
  pool.add('high', { priority: 1, worldSizes: [3] });
  assert.deepEqual(reasons(pool), [['high', 1, 'waiting for 2 workers (2 being freed)']]);
});

test('the status follows the pool: positions move up as runs start', () => {
  const pool = new PoolDriver(1);
  pool.add('a');
  for (const id of ['b', 'c', 'd']) pool.add(id);
  assert.deepEqual(queueStatus(pool.state).map((s) => s.position), [1, 2, 3]);
  pool.at(MIN).end('a', 'completed');
  assert.deepEqual(reasons(pool), [
    ['c', 1, 'no free workers'],
    ['d', 2, 'no free workers'],
  ]);
});

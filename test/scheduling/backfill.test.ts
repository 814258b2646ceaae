import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIN, PoolDriver } from './driver.ts';

const opts = { agingIntervalMs: Infinity, preemption: false };

/** 6 workers: `long` (4 workers, 60 min left by its own estimate) runs; `big` (4 workers) is blocked at the head. */
function blockedHead(options = {}) {
  const pool = new PoolDriver(6, { ...opts, ...options });
  pool.add('long', { worldSizes: [4] });
  pool.send({ type: 'run-progress', at: 0, runId: 'long', attempt: 1, remainingMs: 60 * MIN });
  pool.add('big', { worldSizes: [4] });
  return pool;
}

test('EASY: runs behind a blocked head use the workers its reservation does not need, without delaying it', () => {
  const pool = blockedHead();
  // At the shadow time (60 min) 2 + 4 = 6 will be free, big needs 4: 2 extra. Runs of unknown length may take them.
  pool.add('s1');
  pool.add('s2');
  pool.add('s3');
  assert.deepEqual(pool.running(), ['long', 's1', 's2']);
  assert.deepEqual(pool.starts('s1').map((s) => s.via), ['backfill']);
  pool.at(60 * MIN).end('long', 'completed');
  assert.deepEqual(pool.running(), ['big', 's1', 's2'], 'big starts the moment long ends, s1 and s2 still running');
});

test('EASY: a run that should end before the shadow time may use workers the head needs, on a lease', () => {
  const pool = new PoolDriver(5, opts);
  pool.add('long', { worldSizes: [3] });
  pool.send({ type: 'run-progress', at: 0, runId: 'long', attempt: 1, remainingMs: 60 * MIN });
  pool.add('big', { worldSizes: [5] });
  pool.add('too-long', { expectedDurationMs: 90 * MIN });
  pool.add('unknown');
  pool.add('short', { expectedDurationMs: 30 * MIN });
  assert.deepEqual(pool.running(), ['long', 'short'], 'no extra workers (0): only the run that ends by 60 min');
  assert.equal(pool.state.runs.get('short')!.leaseUntil, 60 * MIN);
  pool.add('pinned', { expectedDurationMs: 10 * MIN, preemptible: false });
  assert.equal(pool.starts('pinned').length, 0, 'a run that cannot be paused is not lent the head\'s workers');
});

test('a backfilled run that overstays its lease is paused for the head, even at the same priority', () => {
  const pool = new PoolDriver(5, { agingIntervalMs: Infinity });
  pool.add('long', { worldSizes: [3] });
  pool.send({ type: 'run-progress', at: 0, runId: 'long', attempt: 1, remainingMs: 60 * MIN });
  pool.add('big', { worldSizes: [5], priority: 5 });
  pool.add('short', { expectedDurationMs: 30 * MIN, priority: 5 });
  assert.deepEqual(pool.running(), ['long', 'short']);
  pool.at(60 * MIN).end('long', 'completed');
  const [stop] = pool.of('stop', 'short');
  assert.equal(stop?.reason, 'preempt');
  assert.match(stop!.message, /preempted by run big \(its backfill lease ran out\)/);
  pool.at(61 * MIN).end('short', 'paused');
  assert.deepEqual(pool.running(), ['big']);
});

test('backfill off: strict order, free workers wait for the head', () => {
  const pool = blockedHead({ backfill: false });
  pool.add('s1');
  assert.deepEqual(pool.running(), ['long']);
});

test('with elastic sizes a backfilled run takes as many of the extra workers as it may', () => {
  const pool = blockedHead();
  pool.add('elastic', { worldSizes: [1, 2, 4] });
  assert.equal(pool.lastStart('elastic').worldSize, 2);
});

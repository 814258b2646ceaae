import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queueStatus } from '../../coordinator/scheduling/index.ts';
import { HOUR, MIN, PoolDriver } from './driver.ts';

test('runs start in priority order (1 first), FIFO within a priority', () => {
  const pool = new PoolDriver(1);
  pool.add('busy', { priority: 1 });
  pool.at(1).add('p5-first', { priority: 5 });
  pool.at(2).add('p1-first', { priority: 1 });
  pool.at(3).add('p5-second', { priority: 5 });
  pool.at(4).add('p1-second', { priority: 1 });
  assert.deepEqual(pool.queued(), ['p1-first', 'p1-second', 'p5-first', 'p5-second']);
  const order: string[] = [];
  for (let t = 10; pool.state.runs.size > 0; t += 10) {
    const [current] = pool.running();
    order.push(current!);
    pool.at(t).end(current!, 'completed');
  }
  assert.deepEqual(order, ['busy', 'p1-first', 'p1-second', 'p5-first', 'p5-second']);
});

test('the same submission time and priority keeps arrival order', () => {
  const pool = new PoolDriver(1);
  pool.add('busy');
  for (const id of ['x', 'y', 'z']) pool.add(id, { priority: 3 });
  assert.deepEqual(pool.queued(), ['x', 'y', 'z']);
});

// A stream of priority-1 runs, one every 10 minutes, each 10 minutes long on the only worker:
// without aging the priority-5 run waits forever; with one level per hour it starts after ~4 hours.
function starvationDay(agingIntervalMs: number): number | null {
  const pool = new PoolDriver(1, { agingIntervalMs });
  pool.add('hog-0', { priority: 1 });
  pool.at(1).add('low', { priority: 5 });
  for (let k = 1; k <= 60; k++) {
    pool.at(k * 10 * MIN).add(`hog-${k}`, { priority: 1 });
    const current = pool.running()[0]!;
    pool.end(current, 'completed');
    if (pool.running()[0] === 'low') return pool.now;
  }
  return null;
}

test('aging: a low-priority run is not starved by a stream of high-priority runs', () => {
  assert.equal(starvationDay(Infinity), null, 'strict priority starves it (10 hours)');
  const startedAt = starvationDay(HOUR);
  assert.ok(startedAt !== null, 'with aging it starts');
  // Four levels (5 → 1) are four hours of waiting: it ranks ahead of the priority-1 runs submitted after that.
  assert.ok(startedAt >= 4 * HOUR && startedAt <= 4 * HOUR + 10 * MIN, `started at ${startedAt / MIN} min`);
});

test('effective priority shows the aging; the order of queued runs does not change with time alone', () => {
  const pool = new PoolDriver(1, { agingIntervalMs: HOUR });
  pool.add('busy');
  pool.add('old-low', { priority: 3 });
  pool.at(30 * MIN).add('new-high', { priority: 2 });
  // 30 min of waiting is half a level: priority 3 - 0.5 = 2.5 still after 2.
  assert.deepEqual(pool.queued(), ['new-high', 'old-low']);
  pool.at(2 * HOUR).tick();
  const status = queueStatus(pool.state);
  assert.deepEqual(status.map((s) => s.runId), ['new-high', 'old-low']);
  assert.equal(status[1]!.effectivePriority, 1);
  assert.equal(status[0]!.effectivePriority, 2 - 1.5);
});

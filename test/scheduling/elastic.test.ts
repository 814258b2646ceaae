import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allowedWorldSizes, SchedulerInputError } from '../../coordinator/scheduling/index.ts';
import { MIN, PoolDriver } from './driver.ts';

test('allowed world sizes divide every stage\'s global batch by its micro-batch', () => {
  assert.deepEqual(allowedWorldSizes([{ global_batch: 64, micro_batch: 4 }], 1, 16), [1, 2, 4, 8, 16]);
  assert.deepEqual(allowedWorldSizes([{ global_batch: 48, micro_batch: 4 }], 2, 8), [2, 3, 4, 6]);
  // Two stages: both must divide.
  assert.deepEqual(allowedWorldSizes([{ global_batch: 48, micro_batch: 4 }, { global_batch: 32, micro_batch: 8 }], 1, 8), [1, 2, 4]);
  // world_size 0 ("every free worker"): as many as the batches allow.
  assert.deepEqual(allowedWorldSizes([{ global_batch: 16, micro_batch: 4 }], 1, Infinity), [1, 2, 4]);
});

test('no allowed size: the error names the fields and the stages', () => {
  assert.throws(
    () => allowedWorldSizes([{ global_batch: 12, micro_batch: 4 }], 2, 2),
    (e: unknown) => e instanceof SchedulerInputError && /world_size, min_world_size: no world size in \[2, 2\].*stages\[0\]: 12 \/ 4/.test(e.message),
  );
  assert.throws(() => allowedWorldSizes([{ global_batch: 8, micro_batch: 4 }], 0, 2), /min_world_size: 0 must be an integer ≥ 1/);
  assert.throws(() => allowedWorldSizes([{ global_batch: 8, micro_batch: 4 }], 2, 1), /world_size: 1 must be an integer ≥ min_world_size 2/);
});

test('a run starts at the largest allowed size the free workers hold', () => {
  const pool = new PoolDriver(7);
  pool.add('one');
  pool.add('elastic', { worldSizes: [2, 4, 8] });
  assert.equal(pool.lastStart('elastic').worldSize, 4, '6 free: 4 (8 does not fit, 6 is not allowed)');
  pool.add('rest', { worldSizes: [1, 2] });
  assert.equal(pool.lastStart('rest').worldSize, 2);
});

test('a run that started small grows when workers sit idle and nothing waits, after its minimum run time', () => {
  const pool = new PoolDriver(4, { minRunTimeMs: 10 * MIN });
  pool.add('wide', { worldSizes: [3] });
  pool.add('elastic', { worldSizes: [1, 2, 4] });
  assert.equal(pool.lastStart('elastic').worldSize, 1);
  const r = pool.at(5 * MIN).end('wide', 'completed');
  assert.equal(pool.of('stop', 'elastic').length, 0, 'protected for its first 10 minutes');
  assert.equal(r.wakeAt, 10 * MIN);
  pool.at(10 * MIN).tick();
  const [stop] = pool.of('stop', 'elastic');
  assert.deepEqual([stop?.reason, stop?.message], ['resize', 'resizing from 1 to 4 workers (3 idle)']);
  pool.at(10 * MIN + 30_000).end('elastic', 'paused');
  assert.equal(pool.of('requeued', 'elastic')[0]!.cause, 'resized');
  assert.deepEqual([pool.lastStart('elastic').worldSize, pool.lastStart('elastic').attempt], [4, 2]);
});

test('no growth for a run that may not be paused, nor while a queued run could use the workers', () => {
  const pinned = new PoolDriver(4, { minRunTimeMs: 0 });
  pinned.add('wide', { worldSizes: [3] });
  pinned.add('elastic', { worldSizes: [1, 2, 4], preemptible: false });
  pinned.at(MIN).end('wide', 'completed');
  assert.equal(pinned.of('stop').length, 0);

  const busy = new PoolDriver(4, { minRunTimeMs: 0, preemption: false });
  busy.add('wide', { worldSizes: [3] });
  busy.add('elastic', { worldSizes: [1, 2, 4] });
  busy.add('waiting', { worldSizes: [4] });
  busy.at(MIN).end('wide', 'completed');
  assert.equal(busy.of('stop').length, 0, '"waiting" is blocked at the head: the idle workers are held for it');
});

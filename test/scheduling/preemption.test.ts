import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIN, PoolDriver } from './driver.ts';

const opts = { minRunTimeMs: 10 * MIN, agingIntervalMs: Infinity };

test('a priority-1 run preempts a priority-5 run once it has run the minimum time; the paused run resumes when workers free', () => {
  const pool = new PoolDriver(2, opts);
  pool.add('low', { priority: 5, worldSizes: [2] });
  const early = pool.at(5 * MIN).add('high', { priority: 1, worldSizes: [2] });
  assert.equal(pool.of('stop').length, 0, 'low has run 5 of its 10 protected minutes');
  assert.equal(early.wakeAt, 10 * MIN, 'the scheduler asks to be woken when low becomes preemptible');
  pool.at(10 * MIN).tick();
  const [stop] = pool.of('stop', 'low');
  assert.equal(stop?.reason, 'preempt');
  assert.match(stop!.message, /preempted by run high \(priority 1 over 5\)/);
  assert.equal(pool.of('start', 'high').length, 0, 'high waits for low to checkpoint');
  pool.at(11 * MIN).end('low', 'paused');
  assert.deepEqual(pool.running(), ['high']);
  assert.deepEqual([...pool.lastStart('high').workers].sort(), ['w0', 'w1']);
  assert.match(pool.of('requeued', 'low')[0]!.message, /preempted by run high/);
  assert.equal(pool.of('requeued', 'low')[0]!.cause, 'preempted');
  pool.at(60 * MIN).end('high', 'completed');
  const resumed = pool.lastStart('low');
  assert.deepEqual([resumed.attempt, resumed.resume, resumed.worldSize], [2, true, 2]);
  assert.equal(pool.state.runs.get('low')!.restarts, 0, 'a preemption is not a restart');
});

test('preemptible: false is never preempted, and the high-priority run waits', () => {
  const pool = new PoolDriver(2, opts);
  pool.add('pinned', { priority: 5, worldSizes: [2], preemptible: false });
  pool.at(1).add('high', { priority: 1, worldSizes: [2] });
  pool.at(60 * MIN).tick();
  assert.equal(pool.of('stop').length, 0);
  assert.deepEqual(pool.running(), ['pinned']);
});

test('equal priority never preempts; neither does a run that aged ahead (only the base priority counts)', () => {
  const pool = new PoolDriver(1, { ...opts, agingIntervalMs: MIN });
  pool.add('running', { priority: 3 });
  pool.at(1).add('same', { priority: 3 });
  pool.at(2).add('aged', { priority: 4 });
  pool.at(600 * MIN).tick();
  assert.equal(pool.of('stop').length, 0);
});

/** 8 workers running the given runs (id, priority, workers) since t = 0; then a priority-1 run arrives at 20 min. */
function contested(runs: Array<[string, number, number]>, arriving: number) {
  const pool = new PoolDriver(8, opts);
  for (const [id, priority, n] of runs) pool.add(id, { priority, worldSizes: [n] });
  pool.at(20 * MIN).add('p1', { priority: 1, worldSizes: [arriving] });
  return pool;
}

test('victims: the lowest priority level that suffices, then the fewest workers disrupted', () => {
  const pool = contested([['p5-big', 5, 4], ['p5-small', 5, 2], ['p3-small', 3, 2]], 2);
  assert.deepEqual(pool.of('stop').map((s) => s.runId), ['p5-small'], 'one priority-5 run of 2 frees enough');
  pool.at(21 * MIN).end('p5-small', 'paused');
  assert.deepEqual(pool.running(), ['p1', 'p3-small', 'p5-big']);

  const wide = contested([['p9', 9, 4], ['p5', 5, 2], ['p3', 3, 2]], 2);
  assert.deepEqual(wide.of('stop').map((s) => s.runId), ['p9'], 'the lowest priority goes first even when larger');

  const cover = contested([['a', 5, 1], ['b', 5, 1], ['c', 5, 3], ['d', 5, 3]], 6);
  assert.deepEqual(cover.of('stop').map((s) => s.runId).sort(), ['c', 'd'], 'two runs of 3 cover 6 exactly; no run of 1 is disturbed');
});

test('no thrash: while victims stop no more are chosen, and the paused run cannot take the workers back', () => {
  const pool = new PoolDriver(4, opts);
  pool.add('low-a', { priority: 5, worldSizes: [2] });
  pool.add('low-b', { priority: 5, worldSizes: [2] });
  pool.at(20 * MIN).add('high', { priority: 1, worldSizes: [2] });
  for (let t = 21; t < 25; t++) pool.at(t * MIN).tick();
  assert.equal(pool.of('stop').length, 1, 'one victim, asked once');
  const victim = pool.of('stop')[0]!.runId;
  pool.at(25 * MIN).end(victim, 'paused');
  assert.deepEqual(pool.running(), ['high', victim === 'low-a' ? 'low-b' : 'low-a'].sort());
  // The victim waits behind 'high' and has no right to preempt anyone (priority 5 vs 1 and 5).
  for (let t = 30; t < 120; t += 10) pool.at(t * MIN).tick();
  assert.equal(pool.of('stop').length, 1);
  assert.deepEqual(pool.queued(), [victim]);
});

test('a resumed run is protected for the minimum run time again', () => {
  const pool = new PoolDriver(1, opts);
  pool.add('low', { priority: 5 });
  pool.at(20 * MIN).add('high-1', { priority: 1 });
  pool.at(21 * MIN).end('low', 'paused');
  pool.at(22 * MIN).end('high-1', 'completed');
  assert.equal(pool.lastStart('low').attempt, 2);
  pool.at(23 * MIN).add('high-2', { priority: 1 });
  pool.at(31 * MIN).tick();
  assert.equal(pool.of('stop', 'low').length, 1, 'still only the first preemption');
  pool.at(32 * MIN).tick();
  assert.equal(pool.of('stop', 'low').length, 2, '10 minutes after its resume it may be preempted again');
});

test('preemption turned off: the high-priority run waits its turn', () => {
  const pool = new PoolDriver(1, { ...opts, preemption: false });
  pool.add('low', { priority: 5 });
  pool.at(1).add('high', { priority: 1 });
  pool.at(60 * MIN).tick();
  assert.equal(pool.of('stop').length, 0);
});

test('no preemption when running runs are expected to free enough within preemptionMinGainMs; it comes once that proves wrong', () => {
  const pool = new PoolDriver(2, { ...opts, preemptionMinGainMs: 5 * MIN });
  pool.add('low', { priority: 5, worldSizes: [2] });
  pool.at(20 * MIN).send({ type: 'run-progress', at: 20 * MIN, runId: 'low', attempt: 1, remainingMs: 3 * MIN });
  const r = pool.add('high', { priority: 1, worldSizes: [2] });
  assert.equal(pool.of('stop').length, 0, 'low ends in 3 minutes: waiting is cheaper than a pause and a restart');
  assert.equal(r.wakeAt, 23 * MIN, 'look again when it should have ended');
  pool.at(23 * MIN + 1).tick();
  assert.equal(pool.of('stop', 'low')[0]?.reason, 'preempt', 'it outlived its estimate: preempted');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIN, PoolDriver } from './driver.ts';

test('a lost worker: the survivors are stopped, then the run restarts from its checkpoint on a spare worker', () => {
  const pool = new PoolDriver(3);
  pool.add('run', { worldSizes: [2] });
  const [lost, survivor] = pool.workersOf('run');
  pool.at(MIN).lose(lost!, 'heartbeat expired');
  const [stop] = pool.of('stop', 'run');
  assert.equal(stop?.reason, 'recover');
  assert.match(stop!.message, new RegExp(`worker ${lost} lost: heartbeat expired`));
  pool.at(MIN + 500).end('run', 'crashed', 'rank 1: peer closed the connection');
  const again = pool.lastStart('run');
  assert.deepEqual([again.attempt, again.worldSize, again.resume], [2, 2, true]);
  assert.ok(again.workers.includes(survivor!) && !again.workers.includes(lost!));
  assert.match(pool.of('requeued', 'run')[0]!.message, /restart 1 of 3 .*heartbeat expired/);
  assert.equal(pool.of('requeued', 'run')[0]!.cause, 'restart');
});

test('elastic shrink: with no spare worker and min_world_size 1, the run continues at world size 1', () => {
  const pool = new PoolDriver(2);
  pool.add('run', { worldSizes: [1, 2] });
  assert.equal(pool.lastStart('run').worldSize, 2);
  pool.at(MIN).lose(pool.workersOf('run')[1]!);
  pool.end('run', 'crashed', 'peer died');
  const again = pool.lastStart('run');
  assert.deepEqual([again.attempt, again.worldSize, again.resume], [2, 1, true]);
});

test('without min_world_size the run waits for a full gang, and starts when a worker joins', () => {
  const pool = new PoolDriver(2);
  pool.add('run', { worldSizes: [2] });
  pool.at(MIN).lose('w1');
  pool.end('run', 'crashed', 'peer died');
  assert.equal(pool.starts('run').length, 1);
  pool.at(2 * MIN).join('w2');
  assert.deepEqual([pool.lastStart('run').attempt, pool.lastStart('run').worldSize], [2, 2]);
});

test('max_restarts: the failure after the last restart fails the run with every attempt\'s reason', () => {
  const pool = new PoolDriver(2, { maxRestarts: 2 });
  pool.add('flaky', { worldSizes: [1] });
  const reasons = ['rank 0: segfault', 'gang start: rank 1 did not arrive', 'rank 0: NCCL error'];
  for (const [i, reason] of reasons.entries()) pool.at((i + 1) * MIN).end('flaky', 'crashed', reason);
  const [done] = pool.of('finished', 'flaky');
  assert.equal(done?.state, 'FAILED');
  assert.match(done!.message, /3 attempt\(s\), max_restarts 2 used up; last: rank 0: NCCL error/);
  assert.deepEqual(done!.attempts, reasons.map((r, i) => `attempt ${i + 1} (world size 1): ${r}`));
  assert.equal(pool.state.runs.has('flaky'), false);
  assert.equal(pool.state.freeCount, 2);
});

test('a job-level failure fails at once; a job\'s own max_restarts overrides the default', () => {
  const pool = new PoolDriver(1);
  pool.add('nan', { worldSizes: [1] });
  pool.at(MIN).end('nan', 'failed', 'loss is NaN at step 12');
  assert.deepEqual(pool.of('finished', 'nan').map((d) => [d.state, d.message]), [['FAILED', 'loss is NaN at step 12']]);
  pool.add('once', { maxRestarts: 0 });
  pool.at(2 * MIN).end('once', 'crashed', 'worker died');
  assert.equal(pool.of('finished', 'once')[0]?.state, 'FAILED');
});

test('the only worker of a run is lost: the attempt ends at once (no rank is left to report it)', () => {
  const pool = new PoolDriver(2);
  pool.add('solo');
  pool.add('other');
  const w = pool.workersOf('solo')[0]!;
  pool.at(MIN).lose(w, 'process exited');
  assert.equal(pool.of('requeued', 'solo').length, 1);
  pool.at(2 * MIN).end('other', 'completed');
  assert.equal(pool.lastStart('solo').attempt, 2);
});

test('late or duplicate events of an old attempt are ignored with a note', () => {
  const pool = new PoolDriver(1);
  pool.add('run');
  pool.at(MIN).end('run', 'crashed', 'rank died');
  assert.equal(pool.lastStart('run').attempt, 2);
  const late = pool.send({ type: 'run-ended', at: 2 * MIN, runId: 'run', attempt: 1, outcome: 'crashed', reason: 'again' });
  assert.deepEqual(late.decisions, []);
  assert.match(late.notes[0]!, /ignored an event of attempt 1 \(now running, attempt 2\)/);
  assert.equal(pool.state.runs.get('run')!.restarts, 1);
  const unknown = pool.send({ type: 'run-ended', at: 2 * MIN, runId: 'ghost', attempt: 1, outcome: 'completed' });
  assert.match(unknown.notes[0]!, /ghost: ignored an event for a run that is not scheduled/);
});

test('a stop that is not honoured in time is killed, and counts as a failed attempt', () => {
  const pool = new PoolDriver(1, { stopTimeoutMs: 5 * MIN, minRunTimeMs: 0 });
  pool.add('stuck', { priority: 5 });
  const r = pool.at(MIN).add('urgent', { priority: 1 });
  assert.equal(r.wakeAt, 6 * MIN, 'woken at the stop deadline');
  pool.at(6 * MIN).tick();
  assert.match(pool.of('kill', 'stuck')[0]!.message, /did not stop within 300000 ms/);
  pool.at(6 * MIN + 100).end('stuck', 'crashed', 'killed');
  assert.deepEqual(pool.running(), ['urgent']);
  assert.equal(pool.state.runs.get('stuck')!.restarts, 1);
});

test('a worker that re-registers while it holds a rank restarted: its run recovers', () => {
  const pool = new PoolDriver(2);
  pool.add('run', { worldSizes: [2] });
  pool.at(MIN).join('w0');
  assert.equal(pool.of('stop', 'run')[0]?.reason, 'recover');
  pool.end('run', 'crashed', 'peer gone');
  assert.equal(pool.lastStart('run').attempt, 2);
});

test('a worker drained with SIGTERM: its run pauses and resumes elsewhere without using a restart; the worker gets nothing new', () => {
  const pool = new PoolDriver(3);
  pool.add('run', { worldSizes: [2] });
  const [leaving] = pool.workersOf('run');
  pool.at(MIN).send({ type: 'worker-draining', at: MIN, workerId: leaving! });
  assert.equal(pool.of('stop', 'run')[0]?.reason, 'drain');
  pool.end('run', 'paused', 'stop requested');
  const again = pool.lastStart('run');
  assert.deepEqual([again.attempt, again.worldSize], [2, 2]);
  assert.ok(!again.workers.includes(leaving!), 'not placed on the leaving worker');
  assert.equal(pool.state.runs.get('run')!.restarts, 0);
  assert.match(pool.of('requeued', 'run')[0]!.message, new RegExp(`worker ${leaving} is leaving`));
  assert.equal(pool.of('requeued', 'run')[0]!.cause, 'drained');
  pool.add('next');
  assert.equal(pool.starts('next').length, 0, 'the only free worker left is draining');
  pool.lose(leaving!, 'left the pool');
  assert.equal(pool.state.workers.size, 2);
  assert.equal(pool.of('stop').length, 1, 'losing a drained, idle worker stops nothing');
});

test('cancel: a queued run is removed at once; a running run is stopped and ends cancelled', () => {
  const pool = new PoolDriver(1);
  pool.add('running');
  pool.add('waiting');
  pool.send({ type: 'job-cancelled', at: 1, runId: 'waiting' });
  assert.deepEqual(pool.of('finished', 'waiting').map((d) => d.state), ['CANCELLED']);
  assert.deepEqual(pool.queued(), []);
  pool.send({ type: 'job-cancelled', at: 2, runId: 'running' });
  assert.equal(pool.of('stop', 'running')[0]?.reason, 'cancel');
  pool.at(3).end('running', 'paused', 'stop flag');
  assert.deepEqual(pool.of('finished', 'running').map((d) => d.state), ['CANCELLED']);
});

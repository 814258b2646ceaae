import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../common/rng.ts';
import { createScheduler, step, type Decision, type SchedulerEvent, type SchedulerState } from '../../coordinator/scheduling/index.ts';
import { compareRuns } from '../../coordinator/scheduling/queue-order.ts';
import { nextRandomEvent } from './random-pool.ts';

const OPTIONS = { minRunTimeMs: 2000, stopTimeoutMs: 5000, agingIntervalMs: 10_000 };

/** Plays `n` random events on a fresh pool; returns the events and every step's decisions. */
function play(seed: number, n: number, check?: (s: SchedulerState, d: Decision[]) => void) {
  const rng = new Rng(seed);
  const state = createScheduler(OPTIONS);
  const events: SchedulerEvent[] = [];
  const decisions: Decision[][] = [];
  let now = 0;
  for (let i = 0; i < n; i++) {
    now += rng.int(2000);
    const e = nextRandomEvent(rng, state, now, i);
    const r = step(state, e);
    check?.(state, r.decisions);
    events.push(e);
    decisions.push(r.decisions);
  }
  return { state, events, decisions };
}

function replay(state: SchedulerState, events: SchedulerEvent[]): Decision[][] {
  return events.map((e) => step(state, e).decisions);
}

test('determinism: the same events from the same state give the same decisions', () => {
  const kinds = new Set<string>();
  for (const seed of [7, 11, 23]) {
    const a = play(seed, 3000);
    assert.deepEqual(replay(createScheduler(OPTIONS), a.events), a.decisions);
    assert.ok(a.decisions.flat().length > 1000, 'the stream made many decisions');
    for (const d of a.decisions.flat()) kinds.add(d.type === 'stop' ? `stop:${d.reason}` : d.type === 'finished' ? `finished:${d.state}` : d.type);
  }
  for (const k of ['start', 'stop:preempt', 'stop:recover', 'stop:drain', 'stop:cancel', 'stop:resize', 'kill', 'requeued', 'finished:COMPLETED', 'finished:FAILED', 'finished:CANCELLED']) {
    assert.ok(kinds.has(k), `the random streams reached ${k}`);
  }
});

test('determinism: a structuredClone of the state mid-stream continues exactly like the original', () => {
  const first = play(11, 1500);
  const copy = structuredClone(first.state);
  const rng = new Rng(99);
  const more: SchedulerEvent[] = [];
  const probe = createScheduler(OPTIONS);
  replay(probe, first.events);
  let now = first.state.now;
  for (let i = 0; i < 1500; i++) {
    now += rng.int(2000);
    const e = nextRandomEvent(rng, probe, now, 10_000 + i);
    step(probe, e);
    more.push(e);
  }
  assert.deepEqual(replay(copy, more), replay(first.state, more));
});

test('invariants hold after every event of a long random stream', () => {
  play(23, 5000, (state, decisions) => {
    let free = 0;
    for (const w of state.workers.values()) {
      if (w.runId === null && !w.draining) free++;
      if (w.runId !== null) {
        const run = state.runs.get(w.runId);
        assert.ok(run && state.active.has(run.id) && run.workers.includes(w.id), `worker ${w.id} belongs to an active run that lists it`);
      }
    }
    assert.equal(state.freeCount, free);
    assert.equal([...state.freeByHost.values()].reduce((n, s) => n + s.size, 0), free);
    const held = [...state.active].flatMap((id) => state.runs.get(id)!.workers);
    assert.equal(new Set(held).size, held.length, 'no worker is in two runs');
    const queued = [...state.runs.values()].filter((r) => r.phase === 'queued').map((r) => r.id).sort();
    assert.deepEqual([...state.queue].sort(), queued, 'the queue holds exactly the queued runs');
    for (let i = 1; i < state.queue.length; i++) {
      const [a, b] = [state.runs.get(state.queue[i - 1]!)!, state.runs.get(state.queue[i]!)!];
      assert.ok(compareRuns(a, b, state.options.agingIntervalMs) < 0, 'the queue is in order');
    }
    for (const d of decisions) {
      if (d.type !== 'start') continue;
      const run = state.runs.get(d.runId)!;
      assert.ok(run.worldSizes.includes(d.worldSize) && d.workers.length === d.worldSize, 'an allowed size, one worker a rank');
      for (const w of d.workers) {
        const rec = state.workers.get(w);
        assert.ok(rec && rec.runId === d.runId && !rec.draining, `worker ${w} is live, not draining, and now the run's`);
      }
    }
    // Work conserving: the first run that could ever fit does not fit now (otherwise it would have started).
    const usable = state.workers.size - state.drainingCount;
    const head = state.queue.map((id) => state.runs.get(id)!).find((r) => r.worldSizes[0]! <= usable);
    if (head) assert.ok(Math.max(head.worldSizes[0]!, Math.min(head.reservedSize ?? 0, usable)) > state.freeCount, `head ${head.id} fits but waits`);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createScheduler, SchedulerInputError, step, type SchedulerEvent } from '../../coordinator/scheduling/index.ts';

const problems = (f: () => unknown): string[] => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof SchedulerInputError, String(e));
    return e.problems;
  }
  assert.fail('no error');
};

test('a malformed event is refused with every problem and its path, and changes nothing', () => {
  const state = createScheduler();
  const bad = { type: 'job-added', at: 5, job: { id: '', priority: NaN, worldSizes: [2, 0, 1.5], maxRestarts: -1, preemptible: 'yes' } };
  assert.deepEqual(problems(() => step(state, bad as unknown as SchedulerEvent)), [
    'event.job.id: a non-empty string expected, got ""',
    'event.job.priority: a finite number expected, got NaN',
    'event.job.worldSizes[1]: an integer ≥ 1 expected, got 0',
    'event.job.worldSizes[2]: an integer ≥ 1 expected, got 1.5',
    'event.job.preemptible: true or false expected, got "yes"',
    'event.job.maxRestarts: an integer ≥ 0 expected, got -1',
  ]);
  assert.equal(state.runs.size, 0);
  assert.equal(state.now, 0);
});

test('events must come in time order; job ids are used once; unknown event types are named', () => {
  const state = createScheduler();
  step(state, { type: 'job-added', at: 10, job: { id: 'a', priority: 1, worldSizes: [1] } });
  assert.deepEqual(problems(() => step(state, { type: 'tick', at: 9 })), [
    "event.at: 9 is before the previous event's time 10; events must come in time order",
  ]);
  assert.deepEqual(problems(() => step(state, { type: 'job-added', at: 11, job: { id: 'a', priority: 1, worldSizes: [1] } })), [
    'event.job.id: run a is already known; a job id is used once',
  ]);
  assert.match(problems(() => step(state, { type: 'reboot', at: 12 } as unknown as SchedulerEvent))[0]!, /^event\.type: job-added \| .* expected, got "reboot"/);
  assert.deepEqual(problems(() => step(state, { type: 'run-ended', at: 12, runId: 'a', attempt: 0, outcome: 'exploded' } as unknown as SchedulerEvent)), [
    'event.attempt: an integer ≥ 1 expected, got 0',
    'event.outcome: completed | paused | cancelled | crashed | failed expected, got "exploded"',
  ]);
});

test('options: unknown names and bad values are refused, naming the option', () => {
  assert.deepEqual(problems(() => createScheduler({ agingIntervalMs: 'Infinity', backfill: 'no' } as never)), [
    'options.agingIntervalMs: "Infinity" must be a number > 0 (Infinity turns aging off)',
    'options.backfill: "no" must be true or false',
  ]);
  assert.deepEqual(problems(() => createScheduler({ minRunTimeMs: -1, maxRestarts: 1.5, agingIntervalMs: 0, preemptOn: true } as never)), [
    'options.preemptOn: unknown option (expected one of agingIntervalMs, minRunTimeMs, preemption, preemptionMinGainMs, backfill, maxRestarts, stopEstimateMs, stopTimeoutMs)',
    'options.minRunTimeMs: -1 must be a finite number ≥ 0',
    'options.agingIntervalMs: 0 must be a number > 0 (Infinity turns aging off)',
    'options.maxRestarts: 1.5 must be an integer ≥ 0',
  ]);
});

import { SchedulerInputError, showValue as show } from './input-error.ts';
import type { SchedulerEvent, SchedulerState } from './types.ts';

/**
 * The entry check of `step`: a malformed event is the caller's bug, refused
 * with every problem and its path (`event.job.worldSizes[1]: …`) before
 * anything changes. Unknown runs, workers and stale attempts are not errors
 * (events race in a distributed system): they become notes.
 */
export function validateEvent(state: SchedulerState, e: SchedulerEvent): void {
  const p: string[] = [];
  const check = (ok: boolean, path: string, what: string, value: unknown) => {
    if (!ok) p.push(`event.${path}: ${what}, got ${show(value)}`);
  };
  const str = (v: unknown, path: string) => check(typeof v === 'string' && v.length > 0, path, 'a non-empty string expected', v);
  const nonNegative = (v: unknown, path: string) => check(typeof v === 'number' && Number.isFinite(v) && v >= 0, path, 'a finite number ≥ 0 expected', v);
  const positiveInt = (v: unknown, path: string) => check(Number.isInteger(v) && (v as number) >= 1, path, 'an integer ≥ 1 expected', v);
  if (typeof e !== 'object' || e === null) throw new SchedulerInputError([`event: an object expected, got ${show(e)}`]);
  check(typeof e.at === 'number' && Number.isFinite(e.at), 'at', 'a finite time in ms expected', e.at);
  if (typeof e.at === 'number' && e.at < state.now) p.push(`event.at: ${e.at} is before the previous event's time ${state.now}; events must come in time order`);
  function checkJob(j: Extract<SchedulerEvent, { type: 'job-added' }>['job']): void {
    if (typeof j !== 'object' || j === null) {
      p.push(`event.job: an object expected, got ${show(j)}`);
      return;
    }
    str(j.id, 'job.id');
    if (typeof j.id === 'string' && state.runs.has(j.id)) p.push(`event.job.id: run ${j.id} is already known; a job id is used once`);
    check(typeof j.priority === 'number' && Number.isFinite(j.priority), 'job.priority', 'a finite number expected', j.priority);
    if (!Array.isArray(j.worldSizes) || j.worldSizes.length === 0) check(false, 'job.worldSizes', 'a non-empty list expected', j.worldSizes);
    else j.worldSizes.forEach((s, i) => positiveInt(s, `job.worldSizes[${i}]`));
    if (j.preemptible !== undefined) check(typeof j.preemptible === 'boolean', 'job.preemptible', 'true or false expected', j.preemptible);
    if (j.maxRestarts !== undefined) check(Number.isInteger(j.maxRestarts) && j.maxRestarts >= 0, 'job.maxRestarts', 'an integer ≥ 0 expected', j.maxRestarts);
    if (j.expectedDurationMs !== undefined) nonNegative(j.expectedDurationMs, 'job.expectedDurationMs');
    if (j.submittedAt !== undefined) check(Number.isFinite(j.submittedAt) && j.submittedAt <= e.at, 'job.submittedAt', `a time ≤ event.at (${e.at}) expected`, j.submittedAt);
  }
  switch (e.type) {
    case 'run-adopted':
      positiveInt(e.attempt, 'attempt');
      if (!Array.isArray(e.workers) || e.workers.length === 0) check(false, 'workers', 'a non-empty list expected', e.workers);
      else e.workers.forEach((w, i) => str(w, `workers[${i}]`));
      checkJob(e.job);
      break;
    case 'job-added':
      checkJob(e.job);
      break;
    case 'job-cancelled':
      str(e.runId, 'runId');
      break;
    case 'run-progress':
      str(e.runId, 'runId');
      positiveInt(e.attempt, 'attempt');
      nonNegative(e.remainingMs, 'remainingMs');
      break;
    case 'run-ended':
      str(e.runId, 'runId');
      positiveInt(e.attempt, 'attempt');
      check(['completed', 'paused', 'cancelled', 'crashed', 'failed'].includes(e.outcome), 'outcome', 'completed | paused | cancelled | crashed | failed expected', e.outcome);
      if (e.reason !== undefined) check(typeof e.reason === 'string', 'reason', 'a string expected', e.reason);
      break;
    case 'worker-joined':
      str(e.worker?.id, 'worker.id');
      if (e.worker?.host !== undefined) str(e.worker.host, 'worker.host');
      break;
    case 'worker-draining':
      str(e.workerId, 'workerId');
      break;
    case 'worker-lost':
      str(e.workerId, 'workerId');
      check(typeof e.reason === 'string', 'reason', 'a string expected', e.reason);
      break;
    case 'tick':
      break;
    default:
      p.push(`event.type: job-added | run-adopted | job-cancelled | run-progress | run-ended | worker-joined | worker-draining | worker-lost | tick expected, got ${show((e as { type: unknown }).type)}`);
  }
  if (p.length) throw new SchedulerInputError(p);
}

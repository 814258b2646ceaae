import type { RunId, RunRecord, SchedulerState } from './types.ts';

/**
 * Queue order: priority, then submission time (FIFO), with aging.
 *
 * Aging is linear: after waiting t, a run's effective priority is
 * priority − t / agingIntervalMs. Because every queued run ages at the same
 * rate, comparing effective priorities at any moment is the same as comparing
 * priority × agingIntervalMs + submittedAt: the order never changes with
 * time, so the queue stays a sorted array (binary insertion, no re-sort on a
 * clock tick). A run keeps its place for life: a paused, preempted or
 * restarting run goes back where it was, ahead of what was submitted after it.
 */
export function compareRuns(a: RunRecord, b: RunRecord, agingIntervalMs: number): number {
  if (Number.isFinite(agingIntervalMs)) {
    const d = a.priority * agingIntervalMs + a.submittedAt - (b.priority * agingIntervalMs + b.submittedAt);
    if (d !== 0) return d;
  }
  return a.priority - b.priority || a.submittedAt - b.submittedAt || a.seq - b.seq;
}

/** The priority a run has after waiting since its submission (smaller is served first). */
export function effectivePriority(run: RunRecord, now: number, agingIntervalMs: number): number {
  return run.priority - Math.max(0, now - run.submittedAt) / agingIntervalMs;
}

/** The index of the first queued run that does not come before `run`. */
function lowerBound(state: SchedulerState, run: RunRecord): number {
  const { queue, runs } = state;
  const aging = state.options.agingIntervalMs;
  let lo = 0;
  let hi = queue.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareRuns(runs.get(queue[mid]!)!, run, aging) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Puts a run into the queue at its place (it must not be there yet). */
export function enqueue(state: SchedulerState, run: RunRecord): void {
  state.queue.splice(lowerBound(state, run), 0, run.id);
  run.phase = 'queued';
  run.queuedAt = state.now;
}

/** A run's 0-based index in the queue, or -1. */
export function queueIndex(state: SchedulerState, run: RunRecord): number {
  const i = lowerBound(state, run);
  return state.queue[i] === run.id ? i : -1;
}

export function dequeue(state: SchedulerState, run: RunRecord): void {
  const i = queueIndex(state, run);
  if (i >= 0) state.queue.splice(i, 1);
}

/** Drops the runs that left the queue during a pass, in one sweep. */
export function compactQueue(state: SchedulerState): void {
  state.queue = state.queue.filter((id: RunId) => state.runs.get(id)?.phase === 'queued');
}

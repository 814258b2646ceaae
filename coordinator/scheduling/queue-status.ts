import { effectivePriority, queueIndex } from './queue-order.ts';
import { usableWorkers } from './worker-pool.ts';
import type { RunId, RunRecord, SchedulerState } from './types.ts';

/** What a queued run's status shows (JobStatus QUEUED: position and the reason it waits). */
export interface QueuedRunStatus {
  runId: RunId;
  /** 1 = next to start. */
  position: number;
  reason: string;
  priority: number;
  /** Its priority after aging (smaller is served first). */
  effectivePriority: number;
}

/**
 * The reason is the constraint that binds now:
 * - "no free workers": every live worker is busy;
 * - "waiting for N workers": fewer are free than its smallest world size
 *   (or than the size it preempted runs for)
 *   (with "(the pool has M)" when even the whole pool is too small, and
 *   "(K being freed)" while stopped runs release theirs);
 * - "behind priority P": enough are free, but they are held for the run
 *   at the head of the queue (priority P), which starts first.
 */
export function queueStatus(state: SchedulerState): QueuedRunStatus[] {
  const ctx = context(state);
  return state.queue.map((id, i) => describe(state, state.runs.get(id)!, i, ctx));
}

/** One run's status, or null if it is not queued. */
export function queuedRunStatus(state: SchedulerState, runId: RunId): QueuedRunStatus | null {
  const run = state.runs.get(runId);
  if (!run || run.phase !== 'queued') return null;
  return describe(state, run, queueIndex(state, run), context(state));
}

interface Context {
  alive: number;
  beingFreed: number;
  head: RunRecord | null;
}

function context(state: SchedulerState): Context {
  let beingFreed = 0;
  for (const id of state.active) {
    const run = state.runs.get(id)!;
    if (run.phase === 'stopping') beingFreed += run.workers.length;
  }
  const alive = usableWorkers(state);
  const headId = state.queue.find((id) => state.runs.get(id)!.worldSizes[0]! <= alive);
  return { alive, beingFreed, head: headId === undefined ? null : state.runs.get(headId)! };
}

function describe(state: SchedulerState, run: RunRecord, index: number, ctx: Context): QueuedRunStatus {
  const free = state.freeCount;
  const min = run.worldSizes[0]!;
  // A run that preempted others waits for the size it preempted for.
  const need = Math.max(min, run.reservedSize ?? 0);
  let reason: string;
  if (min > ctx.alive) reason = `waiting for ${workers(min - free)} (the pool has ${ctx.alive})`;
  else if (free === 0) reason = 'no free workers';
  else if (free < need) reason = `waiting for ${workers(need - free)}${ctx.beingFreed ? ` (${ctx.beingFreed} being freed)` : ''}`;
  else reason = `behind priority ${ctx.head && ctx.head !== run ? ctx.head.priority : run.priority}`;
  return {
    runId: run.id,
    position: index + 1,
    reason,
    priority: run.priority,
    effectivePriority: effectivePriority(run, state.now, state.options.agingIntervalMs),
  };
}

const workers = (n: number) => `${n} worker${n === 1 ? '' : 's'}`;

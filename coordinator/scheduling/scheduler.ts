import { applyEvent } from './apply-event.ts';
import { resolveOptions, type SchedulerOptions } from './options.ts';
import { killOverdueStops } from './recovery.ts';
import { schedulePass } from './schedule-pass.ts';
import { validateEvent } from './validate-event.ts';
import type { SchedulerEvent, SchedulerState, StepResult } from './types.ts';

/**
 * The scheduling policy as a deterministic state machine:
 * (state, event) → (state', decisions). The state is the policy's own
 * bookkeeping, updated in place (copying 10,000 queued runs per event would
 * cost more than deciding); it is plain data, so `structuredClone(state)`
 * keeps a copy. Nothing is read from outside: no clock (time comes in
 * `event.at`), no randomness, no I/O. The same events from the same state give
 * the same decisions, under the coordinator's clock or a simulated one.
 */
export function createScheduler(options: SchedulerOptions = {}, startAt = 0): SchedulerState {
  return {
    options: resolveOptions(options),
    now: startAt,
    nextSeq: 0,
    workers: new Map(),
    drainingCount: 0,
    freeByHost: new Map(),
    freeCount: 0,
    runs: new Map(),
    queue: [],
    active: new Set(),
  };
}

/** Applies one event and decides what follows from it. Throws SchedulerInputError on a malformed event. */
export function step(state: SchedulerState, event: SchedulerEvent): StepResult {
  validateEvent(state, event);
  state.now = event.at;
  const out: StepResult = { decisions: [], wakeAt: null, notes: [] };
  applyEvent(state, event, out);
  const { wakeAt } = schedulePass(state, out);
  // After the pass, so that the stops it asks for have their deadlines in wakeAt.
  const nextDeadline = killOverdueStops(state, out);
  out.wakeAt = earliest(nextDeadline, wakeAt);
  return out;
}

/** Counts for dashboards and the simulator. */
export function poolSummary(state: SchedulerState): { workers: number; free: number; busy: number; draining: number; queued: number; active: number } {
  let busy = 0;
  for (const w of state.workers.values()) if (w.runId !== null) busy++;
  return { workers: state.workers.size, free: state.freeCount, busy, draining: state.drainingCount, queued: state.queue.length, active: state.active.size };
}

function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

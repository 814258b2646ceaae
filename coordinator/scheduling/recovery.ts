import { closeAttempt, finishRun, requestStop, requeue } from './run-lifecycle.ts';
import type { AttemptOutcome, RequeueCause, RunRecord, SchedulerState, StepResult, StopReason } from './types.ts';

const PAUSE_CAUSE: Partial<Record<StopReason, RequeueCause>> = { preempt: 'preempted', drain: 'drained', resize: 'resized' };

/**
 * Automatic recovery. A failed attempt (a rank or its worker lost, a crash,
 * a gang that did not assemble, a stop that had to be killed) is not the
 * job's fault: the survivors are stopped, and once the attempt has ended the
 * run goes back to its place in the queue and resumes from last.pth on
 * whatever workers are free, at any allowed world size. After `maxRestarts`
 * restarts the next failure fails the run, with every attempt's reason.
 * An attempt that ends `failed` (the job's own error) fails the run at once.
 */

/** The current attempt lost a rank: remember why, and stop the survivors. */
export function attemptFailed(state: SchedulerState, run: RunRecord, reason: string, out: StepResult): void {
  run.failure ??= reason;
  if (run.phase === 'running') requestStop(state, run, 'recover', `recovering: ${reason}`, out);
  // No rank left to report the end: the attempt is over now.
  if (run.workers.length === 0) endAttempt(state, run, 'crashed', reason, out);
}

export function endAttempt(state: SchedulerState, run: RunRecord, outcome: AttemptOutcome, reason: string, out: StepResult): void {
  const stop = run.stop;
  const attemptLine = (why: string) => `attempt ${run.attempt} (world size ${run.worldSize}): ${why}`;
  closeAttempt(state, run);
  if (outcome === 'completed') return finishRun(state, run, 'COMPLETED', reason || 'done', out);
  if (outcome === 'cancelled' || stop?.reason === 'cancel') return finishRun(state, run, 'CANCELLED', reason || 'cancelled', out);
  if (outcome === 'failed' && run.failure === null) {
    run.history.push(attemptLine(reason || 'failed'));
    return finishRun(state, run, 'FAILED', reason || 'failed', out);
  }
  const failure = run.failure ?? (outcome === 'paused' ? null : reason || outcome);
  if (failure === null) {
    const why = stop ? stop.message : `paused (${reason || 'stopped'})`;
    const cause = (stop && PAUSE_CAUSE[stop.reason]) ?? 'paused';
    return requeue(state, run, cause, `${why}; resumes from the last checkpoint`, out);
  }
  run.history.push(attemptLine(failure));
  run.restarts++;
  if (run.restarts > run.maxRestarts) {
    const msg = `failed after ${run.history.length} attempt(s), max_restarts ${run.maxRestarts} used up; last: ${failure}`;
    return finishRun(state, run, 'FAILED', msg, out);
  }
  requeue(state, run, 'restart', `restart ${run.restarts} of ${run.maxRestarts} from the last checkpoint after: ${failure}`, out);
}

/**
 * Stops that outlived stopTimeoutMs are killed (the coordinator then reports
 * them `crashed`). Returns the next deadline still ahead, for the wake-up.
 */
export function killOverdueStops(state: SchedulerState, out: StepResult): number | null {
  let next: number | null = null;
  for (const id of state.active) {
    const run = state.runs.get(id)!;
    if (!run.stop || run.stop.killed) continue;
    if (state.now < run.stop.deadlineAt) {
      if (next === null || run.stop.deadlineAt < next) next = run.stop.deadlineAt;
      continue;
    }
    run.stop.killed = true;
    run.failure ??= `did not stop within ${state.options.stopTimeoutMs} ms of being asked (${run.stop.message})`;
    out.decisions.push({ type: 'kill', runId: run.id, attempt: run.attempt, message: run.failure });
  }
  return next;
}

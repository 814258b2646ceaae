import { recordProgress } from './estimates.ts';
import { dequeue, enqueue } from './queue-order.ts';
import { attemptFailed, endAttempt } from './recovery.ts';
import { adoptRun, finishRun, newRun, requestStop } from './run-lifecycle.ts';
import { addWorker, drainWorker, removeWorker } from './worker-pool.ts';
import type { RunRecord, SchedulerEvent, SchedulerState, StepResult } from './types.ts';

/** What each event does to the state before the scheduling pass. */
export function applyEvent(state: SchedulerState, e: SchedulerEvent, out: StepResult): void {
  switch (e.type) {
    case 'job-added': {
      const run = newRun(state, e.job, e.at);
      state.runs.set(run.id, run);
      enqueue(state, run);
      return;
    }
    case 'run-adopted':
      return adoptRun(state, newRun(state, e.job, e.at), e.attempt, e.workers, out);
    case 'job-cancelled':
      return cancel(state, e.runId, out);
    case 'run-progress': {
      const run = currentAttempt(state, e.runId, e.attempt, out);
      if (run) recordProgress(run, e.remainingMs, e.at);
      return;
    }
    case 'run-ended': {
      const run = currentAttempt(state, e.runId, e.attempt, out);
      if (run) endAttempt(state, run, e.outcome, e.reason ?? '', out);
      return;
    }
    case 'worker-joined': {
      const known = state.workers.get(e.worker.id);
      // The same id again while busy: the worker restarted, and the rank it held is gone.
      if (known?.runId) workerLost(state, known.id, 're-registered (it restarted), so its rank is gone', out);
      else if (known) removeWorker(state, known);
      addWorker(state, e.worker);
      return;
    }
    case 'worker-lost':
      return workerLost(state, e.workerId, e.reason, out);
    case 'worker-draining':
      return workerDraining(state, e.workerId, out);
    case 'tick':
      return;
  }
}

/** The run if `attempt` is its attempt now holding workers; else a note (late or duplicate event). */
function currentAttempt(state: SchedulerState, runId: string, attempt: number, out: StepResult): RunRecord | null {
  const run = state.runs.get(runId);
  if (run && run.phase !== 'queued' && run.attempt === attempt) return run;
  out.notes.push(
    run
      ? `run ${runId}: ignored an event of attempt ${attempt} (now ${run.phase}${run.phase === 'queued' ? '' : `, attempt ${run.attempt}`})`
      : `run ${runId}: ignored an event for a run that is not scheduled (finished or unknown)`,
  );
  return null;
}

function cancel(state: SchedulerState, runId: string, out: StepResult): void {
  const run = state.runs.get(runId);
  if (!run) {
    out.notes.push(`run ${runId}: cancel of a run that is not scheduled (finished or unknown)`);
    return;
  }
  if (run.phase === 'queued') {
    dequeue(state, run);
    finishRun(state, run, 'CANCELLED', run.attempt === 0 ? 'cancelled before it started' : 'cancelled while waiting to resume', out);
  } else {
    // A run already stopping (preempted, recovering) stops for good.
    requestStop(state, run, 'cancel', 'cancelled', out);
  }
}

function workerDraining(state: SchedulerState, workerId: string, out: StepResult): void {
  const w = state.workers.get(workerId);
  if (!w) {
    out.notes.push(`worker ${workerId}: draining, but it was not known`);
    return;
  }
  drainWorker(state, w);
  const run = w.runId === null ? undefined : state.runs.get(w.runId);
  if (run?.phase === 'running') requestStop(state, run, 'drain', `paused: worker ${workerId} is leaving`, out);
}

function workerLost(state: SchedulerState, workerId: string, reason: string, out: StepResult): void {
  const w = state.workers.get(workerId);
  if (!w) {
    out.notes.push(`worker ${workerId}: lost, but it was not known (already lost?)`);
    return;
  }
  removeWorker(state, w);
  const run = w.runId === null ? undefined : state.runs.get(w.runId);
  if (!run) return;
  run.workers = run.workers.filter((id) => id !== workerId);
  attemptFailed(state, run, `worker ${workerId} lost: ${reason}`, out);
}

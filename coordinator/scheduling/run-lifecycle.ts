import { settleEstimate } from './estimates.ts';
import { enqueue } from './queue-order.ts';
import { attemptFailed } from './recovery.ts';
import { addWorker, assignWorkers, releaseWorkers } from './worker-pool.ts';
import type { FinalState, JobRequest, RequeueCause, RunRecord, SchedulerState, StepResult, StopReason, WorkerId } from './types.ts';

/** The transitions of a run: queued → running → (stopping →) queued again or finished. */

export function newRun(state: SchedulerState, job: JobRequest, at: number): RunRecord {
  return {
    id: job.id,
    priority: job.priority,
    worldSizes: [...new Set(job.worldSizes)].sort((a, b) => a - b),
    preemptible: job.preemptible ?? true,
    maxRestarts: job.maxRestarts ?? state.options.maxRestarts,
    submittedAt: job.submittedAt ?? at,
    seq: state.nextSeq++,
    phase: 'queued',
    attempt: 0,
    worldSize: 0,
    workers: [],
    startedAt: null,
    queuedAt: at,
    remainingAtFullMs: job.expectedDurationMs ?? null,
    estimateAt: null,
    leaseUntil: null,
    reservedSize: null,
    stop: null,
    failure: null,
    restarts: 0,
    history: [],
  };
}

/** Starts the next attempt on these workers; the caller removes the run from the queue. */
export function startRun(
  state: SchedulerState,
  run: RunRecord,
  workers: WorkerId[],
  via: 'order' | 'backfill',
  leaseUntil: number | null,
  out: StepResult,
): void {
  assignWorkers(state, run, workers);
  state.active.add(run.id);
  run.phase = 'running';
  run.attempt++;
  run.worldSize = workers.length;
  run.startedAt = state.now;
  run.estimateAt = state.now;
  run.leaseUntil = leaseUntil;
  run.reservedSize = null;
  run.failure = null;
  out.decisions.push({ type: 'start', runId: run.id, attempt: run.attempt, worldSize: workers.length, workers, resume: run.attempt > 1, via });
}

/**
 * A run found training (a coordinator took it over): it holds the workers of
 * its attempt. Workers the pool does not list yet join with it (the caller
 * vouches they are alive and busy with it: they were never free); one taken
 * by another run or draining makes it recover.
 */
export function adoptRun(state: SchedulerState, run: RunRecord, attempt: number, workers: readonly WorkerId[], out: StepResult): void {
  state.runs.set(run.id, run);
  for (const id of workers) if (!state.workers.has(id)) addWorker(state, { id });
  const held = workers.filter((id) => state.workers.get(id)!.runId === null && !state.workers.get(id)!.draining);
  assignWorkers(state, run, held);
  state.active.add(run.id);
  run.phase = 'running';
  run.attempt = attempt;
  run.worldSize = workers.length;
  run.startedAt = state.now;
  run.estimateAt = state.now;
  if (held.length < workers.length) {
    const missing = workers.filter((id) => !held.includes(id));
    attemptFailed(state, run, `worker ${missing.join(', ')} taken or leaving while no coordinator watched`, out);
  }
}

/** Asks a running attempt to checkpoint and stop; its workers stay taken until it reports. */
export function requestStop(state: SchedulerState, run: RunRecord, reason: StopReason, message: string, out: StepResult): void {
  const now = state.now;
  run.stop = { reason, message, at: now, deadlineAt: now + state.options.stopTimeoutMs, killed: false };
  run.phase = 'stopping';
  out.decisions.push({ type: 'stop', runId: run.id, attempt: run.attempt, reason, message });
}

/** The attempt is over: its workers are free again. */
export function closeAttempt(state: SchedulerState, run: RunRecord): void {
  releaseWorkers(state, run);
  state.active.delete(run.id);
  settleEstimate(run, state.now);
  run.stop = null;
  run.leaseUntil = null;
  run.startedAt = null;
}

export function requeue(state: SchedulerState, run: RunRecord, cause: RequeueCause, message: string, out: StepResult): void {
  enqueue(state, run);
  out.decisions.push({ type: 'requeued', runId: run.id, cause, message });
}

export function finishRun(state: SchedulerState, run: RunRecord, final: FinalState, message: string, out: StepResult): void {
  state.runs.delete(run.id);
  out.decisions.push({ type: 'finished', runId: run.id, state: final, message, attempts: [...run.history] });
}

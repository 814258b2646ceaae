import type { RunRecord, SchedulerState, WorkerId, WorkerInfo, WorkerRecord } from './types.ts';

/** The free-worker index: which live workers are free, by host. */

function markFree(state: SchedulerState, w: WorkerRecord): void {
  let set = state.freeByHost.get(w.host);
  if (!set) state.freeByHost.set(w.host, (set = new Set()));
  set.add(w.id);
  state.freeCount++;
}

function markTaken(state: SchedulerState, w: WorkerRecord): void {
  const set = state.freeByHost.get(w.host)!;
  set.delete(w.id);
  if (set.size === 0) state.freeByHost.delete(w.host);
  state.freeCount--;
}

/** Live workers that may take ranks (draining ones excluded). */
export function usableWorkers(state: SchedulerState): number {
  return state.workers.size - state.drainingCount;
}

export function addWorker(state: SchedulerState, info: WorkerInfo): void {
  const w: WorkerRecord = { id: info.id, host: info.host ?? info.id, runId: null, draining: false };
  state.workers.set(w.id, w);
  markFree(state, w);
}

/** Forgets a worker; a busy one stays in its run's list until the caller removes it. */
export function removeWorker(state: SchedulerState, w: WorkerRecord): void {
  if (w.draining) state.drainingCount--;
  else if (w.runId === null) markTaken(state, w);
  state.workers.delete(w.id);
}

/** The worker takes no new rank; a free one leaves the free index now, a busy one when its run releases it. */
export function drainWorker(state: SchedulerState, w: WorkerRecord): void {
  if (w.draining) return;
  if (w.runId === null) markTaken(state, w);
  w.draining = true;
  state.drainingCount++;
}

export function assignWorkers(state: SchedulerState, run: RunRecord, ids: readonly WorkerId[]): void {
  for (const id of ids) {
    const w = state.workers.get(id)!;
    markTaken(state, w);
    w.runId = run.id;
  }
  run.workers = [...ids];
}

/** Frees the run's workers that are still alive. */
export function releaseWorkers(state: SchedulerState, run: RunRecord): void {
  for (const id of run.workers) {
    const w = state.workers.get(id);
    if (w && w.runId === run.id) {
      w.runId = null;
      if (!w.draining) markFree(state, w);
    }
  }
  run.workers = [];
}

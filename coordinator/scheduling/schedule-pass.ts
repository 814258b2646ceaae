import { largestFitting } from './elastic.ts';
import { durationAt } from './estimates.ts';
import { growElastic } from './elastic-grow.ts';
import { chooseWorkers } from './placement.ts';
import { planPreemption } from './preemption.ts';
import { compactQueue } from './queue-order.ts';
import { reserveFor, type Reservation } from './reservation.ts';
import { requestStop, startRun } from './run-lifecycle.ts';
import { usableWorkers } from './worker-pool.ts';
import type { RunRecord, SchedulerState, StepResult } from './types.ts';

/**
 * One scheduling pass, after every event:
 *
 * 1. In queue order, start every run that fits, each at the largest allowed
 *    world size the free workers hold (elastic). A run whose smallest size
 *    exceeds the whole live pool is passed over: it cannot start by waiting,
 *    so it must not hold the others up.
 * 2. The first run that does not fit is the head. If it may preempt, lower
 *    priority runs are asked to stop and the head waits for their workers.
 * 3. Backfill (EASY): the head holds a reservation (reservation.ts); runs
 *    behind it start if they only use workers the head will not need at its
 *    shadow time ("extra"), or, if preemptible and with an estimate, if they
 *    should end before the shadow time (they get a lease: overstaying it
 *    makes them preemptible by the runs ahead of them).
 * 4. With no run blocked, idle workers let elastic runs that started small
 *    grow (elastic-grow.ts).
 *
 * Why EASY and not strict order: gangs of very different sizes share the
 * pool, and in strict order a 64-worker run at the head idles every worker
 * that frees up until 64 are free, while small runs behind it could use
 * them. EASY fills those workers without delaying the head: only the head's
 * start is protected (not every queued run's, as in conservative
 * backfilling), which keeps the pass one walk over the queue; the runs
 * behind the head are protected by aging, since each becomes the head in
 * turn. Without estimates EASY still backfills onto the "extra" workers.
 */
export function schedulePass(state: SchedulerState, out: StepResult): { wakeAt: number | null } {
  const alive = usableWorkers(state);
  let head: RunRecord | null = null;
  let headIndex = -1;
  let started = false;
  for (let i = 0; i < state.queue.length; i++) {
    const run = state.runs.get(state.queue[i]!)!;
    if (run.worldSizes[0]! > alive) continue;
    const need = Math.min(run.reservedSize ?? 0, alive);
    const size = state.freeCount >= need ? largestFitting(run.worldSizes, state.freeCount) : 0;
    if (size === 0) {
      head = run;
      headIndex = i;
      break;
    }
    startRun(state, run, chooseWorkers(state, size)!, 'order', null, out);
    started = true;
  }
  let wakeAt: number | null = null;
  if (head) {
    wakeAt = preemptFor(state, head, out);
    if (state.options.backfill && state.freeCount > 0) started = backfill(state, head, headIndex + 1, out) || started;
  } else {
    wakeAt = growElastic(state, out);
  }
  if (started) compactQueue(state);
  return { wakeAt };
}

function preemptFor(state: SchedulerState, head: RunRecord, out: StepResult): number | null {
  let stopping = 0;
  for (const id of state.active) {
    const run = state.runs.get(id)!;
    if (run.phase === 'stopping') stopping += run.workers.length;
  }
  // A reservation the stopping runs can no longer fill (a worker died meanwhile) is dropped and planned again.
  if (head.reservedSize !== null && state.freeCount + stopping < head.reservedSize) head.reservedSize = null;
  if (head.reservedSize !== null) return null;
  const { plan, nextEligibleAt } = planPreemption(state, head, stopping);
  if (!plan) return nextEligibleAt;
  // Not worth it when running runs are expected to free enough for it soon anyway (leases aside: those are owed).
  const shadowAt = reserveFor(state, head.worldSizes[0]!).shadowAt;
  if (shadowAt - state.now <= state.options.preemptionMinGainMs && plan.victims.every((v) => !leaseOver(v, state.now))) return shadowAt;
  head.reservedSize = plan.target;
  for (const victim of plan.victims) {
    const why = leaseOver(victim, state.now) ? 'its backfill lease ran out' : `priority ${head.priority} over ${victim.priority}`;
    requestStop(state, victim, 'preempt', `preempted by run ${head.id} (${why})`, out);
  }
  return null;
}

const leaseOver = (run: RunRecord, now: number) => run.leaseUntil !== null && run.leaseUntil <= now;

function backfill(state: SchedulerState, head: RunRecord, from: number, out: StepResult): boolean {
  // The reservation costs a sort of the active runs: computed only once a run that fits is found.
  let res: Reservation | null = null;
  let extra = 0;
  let started = false;
  for (let i = from; i < state.queue.length && state.freeCount > 0; i++) {
    const run = state.runs.get(state.queue[i]!)!;
    if (run.worldSizes[0]! > state.freeCount) continue;
    if (res === null) {
      res = reserveFor(state, Math.max(head.worldSizes[0]!, head.reservedSize ?? 0));
      extra = res.extra;
      // Neither rule can admit anything: no extra workers, and no shadow time to end by.
      if (extra === 0 && !Number.isFinite(res.shadowAt)) return started;
    }
    const largest = largestFitting(run.worldSizes, state.freeCount);
    const onExtra = largestFitting(run.worldSizes, Math.min(state.freeCount, extra));
    let size = 0;
    let lease: number | null = null;
    if (onExtra === largest) size = onExtra;
    else if (run.preemptible && endsBy(run, largest, state.now, res.shadowAt)) [size, lease] = [largest, res.shadowAt];
    else size = onExtra;
    if (size === 0) continue;
    if (lease === null) extra -= size;
    startRun(state, run, chooseWorkers(state, size)!, 'backfill', lease, out);
    started = true;
  }
  return started;
}

function endsBy(run: RunRecord, size: number, now: number, shadowAt: number): boolean {
  const d = durationAt(run, size);
  return d !== null && Number.isFinite(shadowAt) && now + d <= shadowAt;
}

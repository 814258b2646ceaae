import { largestFitting } from './elastic.ts';
import { compareRuns } from './queue-order.ts';
import type { RunRecord, SchedulerState } from './types.ts';

/**
 * Preemption: the run at the head of the queue that cannot fit pauses
 * running runs to take their workers. A run may be a victim when it is
 * preemptible and comes after the head in queue order (so once paused it
 * waits behind the head and cannot take the workers back), and either
 *   - its priority is strictly lower than the head's and it has run at least
 *     minRunTimeMs in this attempt, or
 *   - it was backfilled on the promise to end by a time that has passed
 *     (its lease: it borrowed workers the head was to get).
 * Never thrashes: a victim cannot preempt the run it yielded to (it comes
 * after it, with a lower priority); a resumed run is protected for
 * minRunTimeMs; and while runs are stopping, their workers count as coming,
 * so no further victims are chosen until they are not enough.
 */
export interface PreemptionPlan {
  /** The world size the head will start with once the victims have stopped. */
  target: number;
  victims: RunRecord[];
}

export interface PreemptionCheck {
  plan: PreemptionPlan | null;
  /** When a run not eligible now becomes one (minimum run time or lease ends); null: none will. */
  nextEligibleAt: number | null;
}

export function planPreemption(state: SchedulerState, head: RunRecord, stoppingWorkers: number): PreemptionCheck {
  const o = state.options;
  const coming = state.freeCount + stoppingWorkers;
  if (!o.preemption || coming >= head.worldSizes[0]!) return { plan: null, nextEligibleAt: null };
  const eligible: RunRecord[] = [];
  let capacity = 0;
  let nextEligibleAt: number | null = null;
  for (const id of state.active) {
    const run = state.runs.get(id)!;
    if (run.phase !== 'running' || !run.preemptible || compareRuns(head, run, o.agingIntervalMs) >= 0) continue;
    const eligibleAt = Math.min(run.leaseUntil ?? Infinity, run.priority > head.priority ? run.startedAt! + o.minRunTimeMs : Infinity);
    if (eligibleAt <= state.now) {
      eligible.push(run);
      capacity += run.workers.length;
    } else if (eligibleAt < Infinity && (nextEligibleAt === null || eligibleAt < nextEligibleAt)) {
      nextEligibleAt = eligibleAt;
    }
  }
  const target = largestFitting(head.worldSizes, coming + capacity);
  if (target === 0) return { plan: null, nextEligibleAt };
  return { plan: { target, victims: cheapestVictims(eligible, target - coming, state.now) }, nextEligibleAt };
}

/**
 * The victims that free at least `deficit` workers at least cost: runs of the
 * lowest priority level that suffices (expired leases count as the lowest of
 * all), and within it the fewest workers disrupted (each pays a pause and a
 * restart). Exact minimisation is subset-sum; two greedy covers, the better
 * of which is taken, are good enough and stay fast and deterministic.
 */
function cheapestVictims(eligible: RunRecord[], deficit: number, now: number): RunRecord[] {
  const level = (r: RunRecord) => (r.leaseUntil !== null && r.leaseUntil <= now ? Infinity : r.priority);
  // Lowest priority first; within a level, smaller runs first, then the youngest.
  const sorted = [...eligible].sort((a, b) => level(b) - level(a) || a.workers.length - b.workers.length || b.seq - a.seq);
  let pool: RunRecord[] = [];
  let freed = 0;
  for (let i = 0; i < sorted.length; ) {
    const l = level(sorted[i]!);
    for (; i < sorted.length && level(sorted[i]!) === l; i++) {
      pool.push(sorted[i]!);
      freed += sorted[i]!.workers.length;
    }
    if (freed >= deficit) break;
  }
  pool = pool.sort((a, b) => a.workers.length - b.workers.length || b.seq - a.seq);
  const single = pool.find((r) => r.workers.length >= deficit);
  const greedy = largestFirstCover(pool, deficit);
  if (single && single.workers.length <= workersOf(greedy)) return [single];
  return greedy;
}

/** Largest runs first until the deficit is covered, then drop the ones no longer needed. */
function largestFirstCover(pool: RunRecord[], deficit: number): RunRecord[] {
  const chosen: RunRecord[] = [];
  let freed = 0;
  for (let i = pool.length - 1; i >= 0 && freed < deficit; i--) {
    chosen.push(pool[i]!);
    freed += pool[i]!.workers.length;
  }
  for (let i = chosen.length - 1; i >= 0; i--) {
    const n = chosen[i]!.workers.length;
    if (freed - n >= deficit) {
      freed -= n;
      chosen.splice(i, 1);
    }
  }
  return chosen;
}

const workersOf = (runs: RunRecord[]) => runs.reduce((n, r) => n + r.workers.length, 0);

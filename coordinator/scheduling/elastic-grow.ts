import { largestFitting } from './elastic.ts';
import { compareRuns } from './queue-order.ts';
import { requestStop } from './run-lifecycle.ts';
import type { RunRecord, SchedulerState, StepResult } from './types.ts';

/**
 * Elastic growth. A run that started below its requested world size (it took
 * what was free) would otherwise stay small for the rest of its life, even
 * when the pool empties. When workers sit idle with nothing queued that could
 * use them, such a run is paused and resumes at the largest allowed size its
 * workers plus the idle ones give (same global batch, so the same training).
 * Only preemptible runs (a resize is a pause), only after minRunTimeMs in the
 * current attempt (never thrashes), never while a queued run waits for
 * workers (it would compete with it for them), oldest in queue order first.
 * Returns when a candidate becomes old enough, for the wake-up.
 */
export function growElastic(state: SchedulerState, out: StepResult): number | null {
  const o = state.options;
  let idle = state.freeCount;
  if (idle === 0) return null;
  const candidates: RunRecord[] = [];
  let nextEligibleAt: number | null = null;
  for (const id of state.active) {
    const run = state.runs.get(id)!;
    if (run.phase !== 'running' || !run.preemptible || largestFitting(run.worldSizes, run.worldSize + idle) <= run.worldSize) continue;
    const eligibleAt = run.startedAt! + o.minRunTimeMs;
    if (eligibleAt <= state.now) candidates.push(run);
    else if (nextEligibleAt === null || eligibleAt < nextEligibleAt) nextEligibleAt = eligibleAt;
  }
  candidates.sort((a, b) => compareRuns(a, b, o.agingIntervalMs));
  for (const run of candidates) {
    const target = largestFitting(run.worldSizes, run.worldSize + idle);
    if (target <= run.worldSize) continue;
    idle -= target - run.worldSize;
    requestStop(state, run, 'resize', `resizing from ${run.worldSize} to ${target} workers (${target - run.worldSize} idle)`, out);
  }
  return nextEligibleAt;
}

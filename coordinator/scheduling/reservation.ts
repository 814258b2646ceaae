import { expectedEndAt } from './estimates.ts';
import type { RunRecord, SchedulerState } from './types.ts';

/**
 * The blocked head's reservation (EASY backfill's "shadow time"): walking the
 * active runs by expected end, the moment enough workers will be free for
 * `need`, and how many more than `need` will be free then (`extra`).
 *
 * Runs with no estimate count as ending last (oldest first) and make the
 * shadow time Infinity when the head needs them. The guarantee does not
 * depend on the estimates being right: a run started on `extra` workers
 * never takes a worker the head needs once the runs counted before it have
 * ended, whenever that is.
 */
export interface Reservation {
  need: number;
  shadowAt: number;
  extra: number;
}

export function reserveFor(state: SchedulerState, need: number): Reservation {
  let avail = state.freeCount;
  if (avail >= need) return { need, shadowAt: state.now, extra: avail - need };
  const ends: Array<{ at: number; run: RunRecord }> = [];
  for (const id of state.active) {
    const run = state.runs.get(id)!;
    ends.push({ at: expectedEndAt(run, state.now, state.options) ?? Infinity, run });
  }
  ends.sort((a, b) => a.at - b.at || a.run.startedAt! - b.run.startedAt! || a.run.seq - b.run.seq);
  for (const e of ends) {
    avail += e.run.workers.length;
    if (avail >= need) return { need, shadowAt: e.at, extra: avail - need };
  }
  // Not even everything running is enough (workers were lost): nothing to hold back.
  return { need, shadowAt: Infinity, extra: state.freeCount };
}


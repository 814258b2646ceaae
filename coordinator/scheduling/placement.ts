import type { SchedulerState, WorkerId } from './types.ts';

/**
 * Gang placement, all or none: `n` free workers, or null when fewer are free
 * (a run never starts with part of its gang).
 *
 * The gang goes on as few hosts as possible, since ranks on one host
 * all-reduce over shared memory or NVLink and ranks across hosts over the
 * network. A gang that fits on one host takes the host with the fewest free
 * workers that still holds it (best fit: whole hosts stay whole for the big
 * gangs); a larger gang takes hosts fullest-free first. Ties go by host name,
 * so placement is deterministic.
 */
export function chooseWorkers(state: SchedulerState, n: number): WorkerId[] | null {
  if (n > state.freeCount) return null;
  let bestHost: string | null = null;
  let bestFree = Infinity;
  for (const [host, set] of state.freeByHost) {
    if (set.size >= n && (set.size < bestFree || (set.size === bestFree && host < bestHost!))) {
      bestHost = host;
      bestFree = set.size;
    }
  }
  if (bestHost !== null) return take(state.freeByHost.get(bestHost)!, n);
  const hosts = [...state.freeByHost.entries()].sort(([ha, a], [hb, b]) => b.size - a.size || (ha < hb ? -1 : 1));
  const chosen: WorkerId[] = [];
  for (const [, set] of hosts) {
    chosen.push(...take(set, n - chosen.length));
    if (chosen.length === n) break;
  }
  return chosen;
}

function take(set: Set<WorkerId>, n: number): WorkerId[] {
  const out: WorkerId[] = [];
  for (const id of set) {
    if (out.length === n) break;
    out.push(id);
  }
  return out;
}

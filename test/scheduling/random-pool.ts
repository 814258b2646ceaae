import { Rng } from '../../common/rng.ts';
import type { SchedulerEvent, SchedulerState } from '../../coordinator/scheduling/index.ts';

/**
 * A random day on a small pool: jobs of every shape arrive, attempts end in
 * every way, workers die, drain and come back, runs are cancelled. Each event
 * is drawn from the state it will be applied to, so the stream stays
 * plausible (ends name attempts that exist) and reaches the rare paths.
 */
export function nextRandomEvent(rng: Rng, state: SchedulerState, now: number, serial: number): SchedulerEvent {
  const pick = <T>(xs: readonly T[]): T | undefined => (xs.length ? xs[rng.int(xs.length)] : undefined);
  const active = [...state.active].map((id) => state.runs.get(id)!);
  const roll = rng.next();
  // Quiet spells without arrivals let the queue drain, so idle-pool paths (elastic growth) are reached too.
  const quiet = serial % 1000 >= 700;
  if (roll < 0.2 && !quiet) {
    const max = pick([1, 1, 2, 2, 3, 4, 6])!;
    const min = rng.next() < 0.3 ? 1 : max;
    const worldSizes = Array.from({ length: max - min + 1 }, (_, i) => min + i).filter((s) => 12 % s === 0 || s === max);
    const job = {
      id: `job${serial}`,
      priority: pick([1, 3, 5, 5])!,
      worldSizes,
      preemptible: rng.next() < 0.85,
      ...(rng.next() < 0.5 ? { expectedDurationMs: 1000 + rng.int(20_000) } : {}),
    };
    return { type: 'job-added', at: now, job };
  }
  const run = pick(active);
  if (roll < 0.55 && run) {
    const outcome = run.phase === 'stopping' ? pick(['paused', 'paused', 'crashed'] as const)! : pick(['completed', 'completed', 'crashed', 'failed', 'paused'] as const)!;
    return { type: 'run-ended', at: now, runId: run.id, attempt: run.attempt, outcome, reason: `random ${outcome}` };
  }
  if (roll < 0.62 && run) return { type: 'run-progress', at: now, runId: run.id, attempt: run.attempt, remainingMs: rng.int(30_000) };
  const worker = pick([...state.workers.keys()]);
  if (roll < 0.67 && worker) return { type: 'worker-lost', at: now, workerId: worker, reason: 'random loss' };
  if (roll < 0.69 && worker) return { type: 'worker-draining', at: now, workerId: worker };
  if (roll < 0.8) return { type: 'worker-joined', at: now, worker: { id: `w${rng.int(12)}`, host: `h${rng.int(4)}` } };
  const victim = pick([...state.runs.keys()]);
  if (roll < 0.83 && victim) return { type: 'job-cancelled', at: now, runId: victim };
  return { type: 'tick', at: now };
}

import { SchedulerInputError, showValue as show } from './input-error.ts';

/** Options of the scheduling policy; every one is optional and its default is given. */
export interface SchedulerOptions {
  /**
   * Waiting time worth one priority level. A queued run's place is
   * priority × agingIntervalMs + its submission time, so a priority-5 run that
   * has waited 4 intervals (16 hours by default) ranks with a priority-1 run
   * submitted now: a low-priority run is never starved, and priorities still
   * mean something through a working day's backlog. `Infinity` turns aging
   * off (strict priority, FIFO within a priority).
   * @defaultValue 14_400_000 (4 hours)
   */
  agingIntervalMs?: number;
  /**
   * How long a run must have been running (in its current attempt) before a
   * higher-priority run may preempt it: a resumed run makes progress before
   * it can be paused again.
   * @defaultValue 600_000 (10 minutes)
   */
  minRunTimeMs?: number;
  /**
   * Whether a run that cannot fit pauses lower-priority preemptible runs.
   * @defaultValue true
   */
  preemption?: boolean;
  /**
   * Preemption must save the blocked run at least this much waiting: it
   * pauses others only when its reservation (from the running runs' own
   * estimates) is further off than this, or unknown. Pauses cost every victim
   * a checkpoint and a restart; in a busy pool runs end every few seconds.
   * @defaultValue 300_000 (5 minutes)
   */
  preemptionMinGainMs?: number;
  /**
   * Whether runs behind a blocked run may start on free workers that its
   * reservation leaves (EASY backfill, README.md). Off: strict order, free
   * workers idle until the first run in the queue fits.
   * @defaultValue true
   */
  backfill?: boolean;
  /**
   * Restarts after failed attempts (a rank or worker lost, the gang did not
   * assemble) before the run fails; a job's own `maxRestarts` wins.
   * @defaultValue 3
   */
  maxRestarts?: number;
  /**
   * Time from a stop request to the run's workers being free (finish the
   * step, write last.pth), as reservations count on it.
   * @defaultValue 60_000 (1 minute)
   */
  stopEstimateMs?: number;
  /**
   * How long a run asked to stop may take before the scheduler asks to kill
   * its ranks (decision `kill`).
   * @defaultValue 600_000 (10 minutes)
   */
  stopTimeoutMs?: number;
}

export type ResolvedOptions = Required<SchedulerOptions>;

export const DEFAULT_OPTIONS: ResolvedOptions = Object.freeze({
  agingIntervalMs: 14_400_000,
  minRunTimeMs: 600_000,
  preemption: true,
  preemptionMinGainMs: 300_000,
  backfill: true,
  maxRestarts: 3,
  stopEstimateMs: 60_000,
  stopTimeoutMs: 600_000,
});

const DURATIONS = ['minRunTimeMs', 'preemptionMinGainMs', 'stopEstimateMs', 'stopTimeoutMs'] as const;

/** The options with defaults filled in; a bad value fails naming `options.<field>`. */
export function resolveOptions(o: SchedulerOptions = {}): ResolvedOptions {
  const known = new Set(Object.keys(DEFAULT_OPTIONS));
  const problems: string[] = [];
  for (const k of Object.keys(o)) if (!known.has(k)) problems.push(`options.${k}: unknown option (expected one of ${[...known].join(', ')})`);
  const r: ResolvedOptions = { ...DEFAULT_OPTIONS, ...o };
  for (const k of DURATIONS) {
    if (typeof r[k] !== 'number' || !Number.isFinite(r[k]) || r[k] < 0) problems.push(`options.${k}: ${show(r[k])} must be a finite number ≥ 0`);
  }
  if (typeof r.agingIntervalMs !== 'number' || !(r.agingIntervalMs > 0)) {
    problems.push(`options.agingIntervalMs: ${show(r.agingIntervalMs)} must be a number > 0 (Infinity turns aging off)`);
  }
  if (!Number.isInteger(r.maxRestarts) || r.maxRestarts < 0) problems.push(`options.maxRestarts: ${show(r.maxRestarts)} must be an integer ≥ 0`);
  for (const k of ['preemption', 'backfill'] as const) {
    if (typeof r[k] !== 'boolean') problems.push(`options.${k}: ${show(r[k])} must be true or false`);
  }
  if (problems.length) throw new SchedulerInputError(problems);
  return r;
}

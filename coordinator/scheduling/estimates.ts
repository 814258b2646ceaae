import type { ResolvedOptions } from './options.ts';
import type { RunRecord } from './types.ts';

/**
 * Run-time estimates, only ever used to let runs backfill (README.md). They
 * scale linearly with world size: at the same global batch the steps are the
 * same and each takes about max/size times as long.
 */

const largest = (run: RunRecord) => run.worldSizes[run.worldSizes.length - 1]!;

/** Estimated run time from now at `size`, or null when unknown. */
export function durationAt(run: RunRecord, size: number): number | null {
  return run.remainingAtFullMs === null ? null : (run.remainingAtFullMs * largest(run)) / size;
}

/**
 * When an active run is expected to free its workers: a stopping run after
 * stopEstimateMs (never before now: the stop deadline bounds it), a running
 * one when its estimate runs out; null when unknown, or when the run has
 * outlived its estimate (an estimate proved wrong is no estimate).
 */
export function expectedEndAt(run: RunRecord, now: number, o: ResolvedOptions): number | null {
  if (run.stop) return Math.max(now, run.stop.at + o.stopEstimateMs);
  if (run.remainingAtFullMs === null || run.estimateAt === null) return null;
  const end = run.estimateAt + (run.remainingAtFullMs * largest(run)) / run.worldSize;
  return end >= now ? end : null;
}

/** A running attempt's own report: `remainingMs` at its current world size. */
export function recordProgress(run: RunRecord, remainingMs: number, now: number): void {
  run.remainingAtFullMs = (remainingMs * run.worldSize) / largest(run);
  run.estimateAt = now;
}

/** At the end of an attempt: what is left, assuming the time since the last estimate was progress. */
export function settleEstimate(run: RunRecord, now: number): void {
  if (run.remainingAtFullMs !== null && run.estimateAt !== null) {
    const done = ((now - run.estimateAt) * run.worldSize) / largest(run);
    run.remainingAtFullMs = Math.max(0, run.remainingAtFullMs - done);
  }
  run.estimateAt = null;
}

import type { Job as BullJob } from 'bullmq';
import type { RankResult } from '../protocol/rank-job.ts';
import type { RunState } from '../protocol/run-status.ts';
import type { RunSpec } from '../train/run-spec.ts';
import type { CheckedJob } from './job-checks.ts';
import type { RankSettled, RunOutcome } from './run-outcome.ts';

/** One gang of a run: rank r on workers[r], and how each rank has ended so far. */
export interface AttemptRecord {
  attempt: number;
  worldSize: number;
  workers: string[];
  settled: Map<number, RankSettled>;
  /** The coordinator asked it to stop (preemption, recovery, drain, cancel). */
  stopRequested: boolean;
  /** Its rank jobs are on the workers' queues (the sweep may read them). */
  dispatched: boolean;
  /** Reported to the scheduler. */
  ended: boolean;
}

/** A run the coordinator looks after, from intake to its end. */
export interface RunEntry {
  id: string;
  job: BullJob;
  checked: CheckedJob;
  /** Settles the intake's wait: the BullMQ job's return value or failure. */
  resolve: (o: RunOutcome) => void;
  reject: (e: Error) => void;
  /** Prepared runs by world size (tokenizing once, planning per size). */
  specs: Map<number, Promise<RunSpec>>;
  attempt: AttemptRecord | null;
  /** The latest rank 0 result (a paused attempt's checkpoint, evaluations). */
  lastResult: RankResult | null;
  /** The latest rank 0 progress (status hash and the final status). */
  lastProgress: unknown;
  state: RunState;
  lastEstimateAt: number;
  /** The world sizes its epochs are planned for (all it may use); empty: each size on its own. */
  epochWorlds: number[];
  /** The world size of each attempt that trained, for the run's log line. */
  segments: string[];
  /** When it last entered the queue (epoch ms): its submit, then each attempt's end (the `startup` record's queued_s). */
  queuedSince: number;
  /** Its cancel reached the scheduler (the channel and the sweep both may report it). */
  cancelHeard: boolean;
}

export function newAttempt(attempt: number, workers: readonly string[]): AttemptRecord {
  return { attempt, worldSize: workers.length, workers: [...workers], settled: new Map(), stopRequested: false, dispatched: false, ended: false };
}

/** `<run>.a<attempt>.r<rank>` back into its parts; null for another id. */
export function parseRankJobId(jobId: string): { runId: string; attempt: number; rank: number } | null {
  const m = /^(.*)\.a(\d+)\.r(\d+)$/.exec(jobId);
  return m ? { runId: m[1]!, attempt: Number(m[2]), rank: Number(m[3]) } : null;
}

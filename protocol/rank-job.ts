import type { RunSpec } from '../train/run-spec.ts';
import type { EvalMetrics } from '../train/metrics/eval-metrics.ts';

/**
 * The contract between the coordinator and the workers: one RankJobData per
 * rank travels as a BullMQ job on RANKS_QUEUE, and the job's return value is
 * the rank's RankResult.
 */
export interface RankJobData {
  runId: string;
  attempt: number;
  rank: number;
  worldSize: number;
  spec: RunSpec;
  resume: boolean;
  /** How long a rank waits for the others to arrive (the gang start deadline). */
  gangDeadlineMs: number;
  /** When this attempt's start went through the coordinator (its wall clock, epoch ms): the run's `startup` record. */
  startup: AttemptTimes;
}

export interface AttemptTimes {
  /** The run entered the queue: its job was added (attempt 1), the previous attempt ended (later ones). */
  queuedAt: number;
  /** The scheduler placed this attempt on its workers. */
  placedAt: number;
  /** Its spec was prepared (corpus tokenized, plan made); its rank jobs go on the workers' queues next. */
  preparedAt: number;
}

export interface RankResult {
  rank: number;
  /** The run ended (all stages, early stop, target); false = paused (stop request), resume later. */
  finished: boolean;
  stopReason: string | null;
  steps: number;
  runDir: string;
  bestCheckpoint: string | null;
  lastCheckpoint: string | null;
  hfDir: string | null;
  firstEval: EvalMetrics | null;
  lastEval: EvalMetrics | null;
  best: { metric: string; value: number } | null;
}

import type { RunSpec } from '../trainer/run-spec.ts';
import type { StepReport } from '../trainer/train-run.ts';
import type { MlmMetrics } from '../metrics/mlm-metrics.ts';

/**
 * The contract between the coordinator, the worker and its rank process.
 * `RankJobData` travels as a BullMQ job on the ranks queue; the rest are IPC
 * messages between a worker and the child process that does the compute.
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
  firstEval: MlmMetrics | null;
  lastEval: MlmMetrics | null;
  best: { metric: string; value: number } | null;
}

export type ToRank = { type: 'start'; job: RankJobData; redisUrl: string; prefix: string } | { type: 'stop' };

export type FromRank =
  | { type: 'ready'; engine: string }
  | { type: 'step'; report: StepReport; worldSize: number }
  | { type: 'done'; result: RankResult }
  | { type: 'failed'; message: string; gang: boolean };

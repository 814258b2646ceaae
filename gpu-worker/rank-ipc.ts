import type { RankJobData, RankResult } from '../protocol/rank-job.ts';
import type { StepReport } from '../train/train-step.ts';

/** IPC between a worker and the rank process it forks for each rank job. */
export type ToRank = { type: 'start'; job: RankJobData; redisUrl: string; prefix: string } | { type: 'stop' };

export type FromRank =
  | { type: 'warm'; engines: string[] }
  | { type: 'ready'; engine: string }
  | { type: 'step'; report: StepReport; worldSize: number; peakRssBytes: number }
  | { type: 'done'; result: RankResult }
  | { type: 'failed'; message: string; gang: boolean };

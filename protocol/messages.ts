import type { ClassificationMetrics } from '../train/metrics/classification-metrics.ts';
import type { EvalMetrics } from '../train/metrics/eval-metrics.ts';
import type { MlmMetrics } from '../train/metrics/mlm-metrics.ts';
import { schemaJson } from './schema.ts';

/** What travels back to producers: status, progress and results as gradpool.v1 JSON (snake_case). */
export type JobStateName =
  | 'JOB_STATE_UNSPECIFIED' | 'QUEUED' | 'PREPARING' | 'WAITING_FOR_WORKERS' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'PAUSED';

/**
 * gradpool.v1.EvalMetrics as readers get it: every field, the other task's at
 * their zero values; `task` ("mlm" or "classification") says which are meant.
 * Producers send the trainer's metrics (EvalMetrics) as they are.
 */
export type EvalMetricsJson = { task: string } & Omit<MlmMetrics, 'task'> & Omit<ClassificationMetrics, 'task'>;
type SentEval = EvalMetrics | EvalMetricsJson;

export interface ProgressJson {
  stage: number;
  step: number;
  max_steps: number;
  global_step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens_per_s: number;
  eta_s: number;
  eval?: EvalMetricsJson;
  world_size: number;
  message: string;
  step_s: number;
}

export interface JobStatusJson {
  id: string;
  state: JobStateName;
  message: string;
  progress?: ProgressJson;
  updated_at_ms: number;
  created_at_ms: number;
  started_at_ms: number;
  finished_at_ms: number;
  queue_position: number;
  queue_reason: string;
  attempt: number;
  world_size: number;
}

export interface RunResultJson {
  run_id: string;
  run_dir: string;
  best_checkpoint: string;
  last_checkpoint: string;
  hf_dir: string;
  first_eval?: EvalMetricsJson;
  last_eval?: EvalMetricsJson;
  best_metric: string;
  best_value?: number;
  stop_reason: string;
  steps: number;
  finished: boolean;
  cancelled: boolean;
  world_size: number;
  attempts: number;
}

/**
 * Producer side: rejects unknown fields and wrong types; fills every unset
 * scalar with its zero value (unset messages and best_value stay absent).
 * Reader side (from*): the same, but unknown fields (a newer producer) are dropped.
 */
export const toProgressJson = (p: Partial<Omit<ProgressJson, 'eval'>> & { eval?: SentEval }) => schemaJson<ProgressJson>('Progress', p, true);
export const toStatusJson = (s: Partial<JobStatusJson>) => schemaJson<JobStatusJson>('JobStatus', s, true);
export const toRunResultJson = (r: Partial<Omit<RunResultJson, 'first_eval' | 'last_eval'>> & { first_eval?: SentEval; last_eval?: SentEval }) =>
  schemaJson<RunResultJson>('RunResult', r, true);
export const fromProgressJson = (data: unknown) => schemaJson<ProgressJson>('Progress', data, false);
export const fromStatusJson = (data: unknown) => schemaJson<JobStatusJson>('JobStatus', data, false);
export const fromRunResultJson = (data: unknown) => schemaJson<RunResultJson>('RunResult', data, false);

/**
 * The package's public surface for other services:
 *   import { GradpoolClient } from 'gradpool';
 */
export { GradpoolClient, type SubmitOptions, type RunEvent, type RunSummary } from './coordinator/client/gradpool-client.ts';
export type { RunOutcome } from './coordinator/service/coordinator.ts';
export type { RunState } from './coordinator/service/run-status.ts';
export type { JobStatusJson, ProgressJson, RunResultJson, EvalMetricsJson } from './coordinator/job/proto-job.ts';
export type { Job, StageSpec } from './coordinator/job/job-spec.ts';
export { validateJob, loadJobFile, JobSpecError } from './coordinator/job/validate-job.ts';

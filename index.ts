/**
 * The package's public surface for other services:
 *   import { GradpoolClient } from 'gradpool';
 */
export { GradpoolClient, type SubmitOptions, type RunEvent, type RunSummary } from './coordinator/gradpool-client.ts';
export type { RunOutcome } from './coordinator/coordinator.ts';
export type { RunState } from './protocol/run-status.ts';
export type { JobStatusJson, ProgressJson, RunResultJson, EvalMetricsJson } from './protocol/messages.ts';
export type { Job, StageSpec } from './spec/job-spec.ts';
export { validateJob, loadJobFile, JobSpecError } from './spec/validate-job.ts';

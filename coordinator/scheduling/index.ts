/**
 * The scheduling policy (issue 11): a pure, deterministic module the
 * coordinator drives with events and the simulator (bench/scheduler.ts)
 * drives with a simulated clock. README.md has the rules and the API.
 */
export { createScheduler, step, poolSummary } from './scheduler.ts';
export { queueStatus, queuedRunStatus, type QueuedRunStatus } from './queue-status.ts';
export { allowedWorldSizes, type StageBatch } from './elastic.ts';
export { DEFAULT_OPTIONS, type SchedulerOptions, type ResolvedOptions } from './options.ts';
export { SchedulerInputError } from './input-error.ts';
export type {
  AttemptOutcome,
  Decision,
  FinalState,
  RequeueCause,
  JobRequest,
  RunId,
  SchedulerEvent,
  SchedulerState,
  StepResult,
  StopReason,
  WorkerId,
  WorkerInfo,
} from './types.ts';

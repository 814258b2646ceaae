/**
 * The scheduling policy's vocabulary: what the coordinator tells it (events),
 * what it answers (decisions), and the state it keeps between calls.
 *
 * Time is always given, never read: every event carries `at` (Unix ms, or any
 * monotonic clock the caller keeps), so the same code runs under the
 * coordinator's clock and under a simulated one.
 */
import type { ResolvedOptions } from './options.ts';

export type RunId = string;
export type WorkerId = string;

/** A job as the scheduler sees it; the coordinator builds it from a validated TrainingJob. */
export interface JobRequest {
  id: RunId;
  /** Smaller runs first (BullMQ's convention: 1 before 2); any finite number. */
  priority: number;
  /**
   * The world sizes the run may use, each dividing every stage's global batch
   * by its micro-batch (build it with `allowedWorldSizes`). The largest is the
   * requested `world_size`, the smallest `min_world_size`.
   */
  worldSizes: readonly number[];
  /** Whether a higher-priority run may pause it. @defaultValue true */
  preemptible?: boolean;
  /** Restarts after failed attempts before the run fails. @defaultValue options.maxRestarts (3) */
  maxRestarts?: number;
  /**
   * Expected run time at the largest world size, if the caller can estimate it
   * (plan steps × a measured step time). With it the run may be backfilled in
   * front of a blocked run when it should end before that run's reservation.
   * @defaultValue unknown
   */
  expectedDurationMs?: number;
  /** When the job was submitted; it places the job in the queue. @defaultValue the event's `at` */
  submittedAt?: number;
}

export interface WorkerInfo {
  id: WorkerId;
  /** Gangs are packed onto as few hosts as possible. @defaultValue the worker's id (a host of its own) */
  host?: string;
}

/**
 * How an attempt ended, as the coordinator saw it:
 * - `completed`: all stages done (or early stopping);
 * - `paused`: the ranks checkpointed and stopped (after a stop request, or a worker drained with SIGTERM);
 * - `cancelled`: stopped after a cancel;
 * - `crashed`: the infrastructure failed (a rank or its worker died, the gang did not assemble): the run restarts;
 * - `failed`: the job's own error (bad data, NaN loss) that a restart would repeat: the run fails.
 */
export type AttemptOutcome = 'completed' | 'paused' | 'cancelled' | 'crashed' | 'failed';

export type SchedulerEvent =
  | { type: 'job-added'; at: number; job: JobRequest }
  | { type: 'job-cancelled'; at: number; runId: RunId }
  /** A running attempt's own estimate of its remaining time (e.g. Progress.eta_s summed over stages). */
  | { type: 'run-progress'; at: number; runId: RunId; attempt: number; remainingMs: number }
  | { type: 'run-ended'; at: number; runId: RunId; attempt: number; outcome: AttemptOutcome; reason?: string }
  | { type: 'worker-joined'; at: number; worker: WorkerInfo }
  | { type: 'worker-lost'; at: number; workerId: WorkerId; reason: string }
  /** The worker is leaving (SIGTERM): it takes no new rank; its run is paused and resumes elsewhere. */
  | { type: 'worker-draining'; at: number; workerId: WorkerId }
  /**
   * A run already training when this scheduler started (a coordinator took
   * over a dead one's runs): it holds `workers` in attempt `attempt` without a
   * start decision. Workers not known (lost meanwhile) make it recover.
   */
  | { type: 'run-adopted'; at: number; job: JobRequest; attempt: number; workers: WorkerId[] }
  /** Nothing happened but time passed: minimum run times and stop deadlines expire on ticks. */
  | { type: 'tick'; at: number };

export type StopReason = 'preempt' | 'recover' | 'cancel' | 'drain' | 'resize';

export type RequeueCause = 'preempted' | 'drained' | 'resized' | 'paused' | 'restart';

export type FinalState = 'COMPLETED' | 'FAILED' | 'CANCELLED';

export type Decision =
  /** Dispatch one rank per worker, rank r on workers[r]; `resume` = continue from last.pth when it exists. */
  | { type: 'start'; runId: RunId; attempt: number; worldSize: number; workers: WorkerId[]; resume: boolean; via: 'order' | 'backfill' }
  /** Ask the attempt's ranks to checkpoint at their next optimizer step and stop (the pause path). */
  | { type: 'stop'; runId: RunId; attempt: number; reason: StopReason; message: string }
  /** The attempt did not stop within stopTimeoutMs: kill its rank processes, then report it `crashed`. */
  | { type: 'kill'; runId: RunId; attempt: number; message: string }
  /** The run is waiting again; it keeps its place in the queue. `restart`: after a failed attempt (counts against max_restarts). */
  | { type: 'requeued'; runId: RunId; cause: RequeueCause; message: string }
  /** The run is over; `attempts` lists every failed attempt's reason. */
  | { type: 'finished'; runId: RunId; state: FinalState; message: string; attempts: string[] };

export interface StepResult {
  decisions: Decision[];
  /** Call again (a `tick`) by then: a run becomes preemptible or a stop deadline passes. Null: no timer needed. */
  wakeAt: number | null;
  /** Events that changed nothing, and why (a stale attempt, an unknown run); worth a log line. */
  notes: string[];
}

export type RunPhase = 'queued' | 'running' | 'stopping';

/** A run the scheduler still looks after (queued, running or stopping). Finished runs are dropped. */
export interface RunRecord {
  id: RunId;
  priority: number;
  /** Ascending, distinct. */
  worldSizes: number[];
  preemptible: boolean;
  maxRestarts: number;
  submittedAt: number;
  /** Arrival order: the FIFO tie-break. */
  seq: number;
  phase: RunPhase;
  /** Attempts started so far; the current one while running. */
  attempt: number;
  worldSize: number;
  workers: WorkerId[];
  startedAt: number | null;
  /** When it last entered the queue. */
  queuedAt: number;
  /** Estimated remaining time at the largest world size, as of `estimateAt`; null = unknown. */
  remainingAtFullMs: number | null;
  estimateAt: number | null;
  /** Backfilled on the promise of ending by then: afterwards a run ahead of it may pause it. */
  leaseUntil: number | null;
  /** The world size preemption is freeing workers for; the run waits for that many. */
  reservedSize: number | null;
  stop: { reason: StopReason; message: string; at: number; deadlineAt: number; killed: boolean } | null;
  /** The first failure seen in the current attempt. */
  failure: string | null;
  restarts: number;
  /** One line per failed attempt. */
  history: string[];
}

export interface WorkerRecord {
  id: WorkerId;
  host: string;
  runId: RunId | null;
  /** Leaving: never placed again, gone once `worker-lost` comes. */
  draining: boolean;
}

/**
 * Everything the policy remembers: plain data (Maps, Sets, arrays, records),
 * so `structuredClone` copies it and two copies fed the same events give the
 * same decisions.
 */
export interface SchedulerState {
  options: ResolvedOptions;
  /** The latest event's time; events may not go back. */
  now: number;
  nextSeq: number;
  /** Live workers, draining ones included. */
  workers: Map<WorkerId, WorkerRecord>;
  drainingCount: number;
  /** Free live workers by host. */
  freeByHost: Map<string, Set<WorkerId>>;
  freeCount: number;
  runs: Map<RunId, RunRecord>;
  /** Queued runs, in queue order. */
  queue: RunId[];
  /** Runs holding workers (running or stopping). */
  active: Set<RunId>;
}

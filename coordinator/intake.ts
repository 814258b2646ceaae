import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { serviceKeys } from '../protocol/keys.ts';
import { JOBS_QUEUE } from '../protocol/queues.ts';
import { logRedisErrors, queueConnection } from '../protocol/redis.ts';
import { countRejection, setRunStatus } from '../protocol/run-status.ts';
import type { ServiceConfig } from '../protocol/service-config.ts';
import { checkJobData, JobRejected, type CheckedJob } from './job-checks.ts';
import type { RunOutcome } from './run-outcome.ts';

/**
 * Intake: the consumer of `gradpool-jobs`. It takes every job as soon as it
 * is added (concurrency in the thousands: a job waits for workers in the
 * scheduler's queue, not in BullMQ's), checks it within milliseconds
 * (job-checks.ts: envelope, schema, validateJob, every path), fails a bad
 * one at once with every problem, and hands a good one to the pool. The
 * BullMQ job stays active (locked by this coordinator) for the life of the
 * run, and its return value is the run's RunResult; when this coordinator
 * dies, its jobs stall and the next one takes them over.
 */
export interface IntakeOptions {
  config: ServiceConfig;
  redis: Redis;
  /** How soon another coordinator takes over a dead one's runs (the run jobs' lock). */
  lockDurationMs: number;
  /** Hands a checked job to the pool; `resuming` = its attempt is recorded (a take-over). */
  admit: (job: Job, checked: CheckedJob) => Promise<RunOutcome>;
  log: (line: string) => void;
}

const MAX_RUNS = Number(process.env.GRADPOOL_MAX_RUNS ?? 10_000);

export class Intake {
  private worker: Worker | null = null;

  constructor(private readonly o: IntakeOptions) {}

  async start(): Promise<void> {
    this.worker = new Worker(JOBS_QUEUE, (job: Job) => this.take(job), {
      connection: queueConnection(this.o.config.redisUrl),
      prefix: this.o.config.prefix,
      concurrency: MAX_RUNS,
      lockDuration: this.o.lockDurationMs,
      stalledInterval: this.o.lockDurationMs,
      // A run outlives coordinator restarts: each restart stalls its job once.
      maxStalledCount: 100,
    });
    logRedisErrors(this.worker, 'jobs queue', this.o.log);
    await this.worker.waitUntilReady();
  }

  private async take(job: Job): Promise<RunOutcome> {
    const id = job.id!;
    const keys = serviceKeys(this.o.config.prefix);
    let checked: CheckedJob;
    try {
      const resumingAttempt = (await this.o.redis.exists(keys.attempt(id))) === 1;
      checked = checkJobData(job.data, { resumingAttempt });
    } catch (e) {
      const message = e instanceof JobRejected ? e.message : `intake: ${(e as Error).message}`;
      await setRunStatus(this.o.redis, this.o.config.prefix, id, 'FAILED', message).catch(() => {});
      await countRejection(this.o.redis, this.o.config.prefix, e instanceof JobRejected ? e.reason : 'preparation_failed').catch(() => {});
      this.o.log(`${id}: rejected: ${message.replace(/\n\s*/g, '; ')}`);
      throw new UnrecoverableError(message);
    }
    return this.o.admit(job, checked);
  }

  /** Stops taking jobs; runs in progress are left to the coordinator that takes them over. */
  async close(): Promise<void> {
    await this.worker?.close(true);
  }
}

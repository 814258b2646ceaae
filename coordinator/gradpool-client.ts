import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { serviceKeys } from '../protocol/keys.ts';
import { connectRedis, logRedisErrors, queueConnection } from '../protocol/redis.ts';
import { serviceConfigFromEnv, type ServiceConfig } from '../protocol/service-config.ts';
import type { Job as TrainingJob } from '../spec/job-spec.ts';
import { jobToEnvelope, type ServiceFields } from '../protocol/job-envelope.ts';
import { fromProgressJson, fromRunResultJson, type JobStateName, type JobStatusJson, type ProgressJson } from '../protocol/messages.ts';
import { JOB_NAME, JOBS_QUEUE } from '../protocol/queues.ts';
import { loadJobFile, validateJob } from '../spec/validate-job.ts';
import type { RunOutcome } from './coordinator.ts';
import { getRunStatus } from '../protocol/run-status.ts';

/**
 * The typed client other services (and the CLI) use:
 *
 *   const client = new GradpoolClient();               // GRADPOOL_REDIS_URL, GRADPOOL_PREFIX
 *   const id = await client.submit('job.yaml', { worldSize: 2 });
 *   for await (const e of client.events(id)) console.log(e);
 *   const result = await client.result(id);
 *
 * Jobs are validated here (field paths in the error) and again by the
 * coordinator, which also accepts jobs enqueued by other clients (proto/README.md).
 */
export interface SubmitOptions {
  /** Ranks; 0 (default) = every free worker when the run starts. */
  worldSize?: number;
  /** BullMQ priority: 1 is served first; default none. */
  priority?: number;
  /** Continue an existing run folder from its last.pth. */
  resume?: boolean;
  /** A caller-chosen unique id; default: the job name plus a timestamp. Refused if a job with it exists. */
  id?: string;
  /** The scheduling fields: min_world_size (elastic), preemptible, max_restarts (proto/README.md). */
  service?: Pick<ServiceFields, 'min_world_size' | 'preemptible' | 'max_restarts'>;
}

export type RunEvent =
  | { type: 'status'; state: JobStateName; message: string }
  | { type: 'progress'; progress: ProgressJson }
  | { type: 'completed'; result: RunOutcome }
  | { type: 'failed'; reason: string };

export interface RunSummary {
  id: string;
  name: string;
  state: JobStateName;
  message: string;
  createdAtMs: number;
}

export class GradpoolClient {
  readonly config: ServiceConfig;
  private readonly queue: Queue;
  private readonly redis: Redis;
  private events_: QueueEvents | null = null;
  private subscriber: Redis | null = null;
  private readonly statusListeners = new Map<string, Set<() => void>>();

  /** `log` receives Redis connection problems (default: stderr, one line per distinct error a minute). */
  constructor(config: Partial<ServiceConfig> = {}, private readonly log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {
    this.config = serviceConfigFromEnv(config);
    this.queue = new Queue(JOBS_QUEUE, { connection: queueConnection(this.config.redisUrl), prefix: this.config.prefix });
    logRedisErrors(this.queue, 'gradpool client', this.log);
    this.redis = connectRedis(this.config.redisUrl, 'gradpool client', this.log);
  }

  private async queueEvents(): Promise<QueueEvents> {
    if (!this.events_) {
      this.events_ = new QueueEvents(JOBS_QUEUE, { connection: queueConnection(this.config.redisUrl), prefix: this.config.prefix });
      logRedisErrors(this.events_, 'gradpool client events', this.log);
      await this.events_.waitUntilReady();
    }
    return this.events_;
  }

  /** Validates and enqueues a job (a job file path, a raw job object, or a validated Job); returns its id. */
  async submit(job: string | TrainingJob | Record<string, unknown>, o: SubmitOptions = {}): Promise<string> {
    const typed: TrainingJob = typeof job === 'string' ? loadJobFile(job) : validateJob(job, 'job');
    const id = o.id ?? `${typed.name}-${Date.now().toString(36)}`;
    const envelope = jobToEnvelope(typed, { world_size: o.worldSize ?? 0, priority: o.priority ?? 0, resume: o.resume ?? false, ...(o.service ?? {}) }, 'json');
    // BullMQ ignores an add with a job id it holds: refuse it here instead of losing the job silently.
    const existing = await Job.fromId(this.queue, id);
    if (existing) throw new Error(`job id ${id} is already used (a run ${await existing.getState()}); choose another id`);
    // QUEUED before the add: the coordinator may reject the job (FAILED) before this call returns.
    const now = String(Date.now());
    await this.redis.del(serviceKeys(this.config.prefix).status(id));
    await this.redis.hset(serviceKeys(this.config.prefix).status(id), { state: 'QUEUED', message: 'submitted', updated_at_ms: now, created_at_ms: now });
    await this.queue.add(JOB_NAME, envelope, {
      jobId: id,
      priority: o.priority && o.priority > 0 ? o.priority : undefined,
      attempts: 3,
      backoff: { type: 'fixed', delay: 5000 },
    });
    return id;
  }

  /** gradpool.v1.JobStatus of a run. */
  async status(id: string): Promise<JobStatusJson> {
    const s = await getRunStatus(this.redis, this.config.prefix, id);
    const job = await Job.fromId(this.queue, id);
    if (!s && !job) throw new Error(`no run ${id}`);
    const base: JobStatusJson = s ?? {
      id, state: 'QUEUED', message: '', updated_at_ms: job!.timestamp, created_at_ms: job!.timestamp, started_at_ms: 0, finished_at_ms: 0,
      queue_position: 0, queue_reason: '', attempt: 0, world_size: 0,
    };
    if (job && (await job.getState()) === 'failed' && base.state !== 'FAILED') return { ...base, state: 'FAILED', message: job.failedReason };
    return base;
  }

  /**
   * Status changes and rank 0's progress until the run completes or fails.
   * Event-driven: the queue's progress/completed/failed events and the
   * status-change channel wake it; `rereadMs` is only a safety re-read (a
   * missed event, a Redis reconnect).
   */
  async *events(id: string, rereadMs = 10_000): AsyncGenerator<RunEvent> {
    const ev = await this.queueEvents();
    const unsubscribe = await this.onStatusChange(id, () => poke());
    const buffered: RunEvent[] = [];
    let wake: (() => void) | null = null;
    let dirty = false;
    const poke = () => {
      dirty = true;
      wake?.();
    };
    const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
      if (jobId !== id) return;
      buffered.push({ type: 'progress', progress: fromProgressJson(data) });
      wake?.();
    };
    const onEnd = ({ jobId }: { jobId: string }) => {
      if (jobId === id) poke();
    };
    ev.on('progress', onProgress);
    ev.on('completed', onEnd);
    ev.on('failed', onEnd);
    let lastState = '';
    try {
      for (;;) {
        dirty = false;
        const job = await Job.fromId(this.queue, id);
        if (!job) throw new Error(`no run ${id}`);
        const state = await job.getState();
        const s = await getRunStatus(this.redis, this.config.prefix, id);
        if (s && `${s.state}|${s.message}` !== lastState && s.state !== 'RUNNING') {
          lastState = `${s.state}|${s.message}`;
          buffered.push({ type: 'status', state: s.state, message: s.message });
        }
        while (buffered.length) yield buffered.shift()!;
        // A final state may be newer than the job read above: read the job again for its outcome.
        const done = state === 'completed' || state === 'failed' ? await Job.fromId(this.queue, id) : job;
        if (state === 'completed') {
          yield { type: 'completed', result: fromRunResultJson(done?.returnvalue ?? job.returnvalue) };
          return;
        }
        // A job BullMQ will retry sits in waiting/delayed, so "failed" is final (UnrecoverableError included).
        if (state === 'failed') {
          yield { type: 'failed', reason: done?.failedReason ?? job.failedReason ?? 'unknown' };
          return;
        }
        while (!dirty) {
          let timer: NodeJS.Timeout | undefined;
          await new Promise<void>((r) => {
            wake = r;
            timer = setTimeout(poke, rereadMs);
          });
          clearTimeout(timer);
          wake = null;
          while (buffered.length) yield buffered.shift()!;
        }
      }
    } finally {
      ev.off('progress', onProgress);
      ev.off('completed', onEnd);
      ev.off('failed', onEnd);
      unsubscribe();
    }
  }

  /** Calls `fn` whenever the run's status hash is written (the coordinator publishes each write). */
  private async onStatusChange(id: string, fn: () => void): Promise<() => void> {
    if (!this.subscriber) {
      this.subscriber = connectRedis(this.config.redisUrl, 'gradpool client status channel', this.log);
      this.subscriber.on('message', (_channel: string, runId: string) => {
        for (const f of this.statusListeners.get(runId) ?? []) f();
      });
      await this.subscriber.subscribe(serviceKeys(this.config.prefix).statusChannel);
    }
    let set = this.statusListeners.get(id);
    if (!set) this.statusListeners.set(id, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.statusListeners.delete(id);
    };
  }

  /** Waits for the run to end; resolves with its outcome, rejects with its failure. */
  async result(id: string): Promise<RunOutcome> {
    for await (const e of this.events(id)) {
      if (e.type === 'completed') return e.result;
      if (e.type === 'failed') throw new Error(`run ${id} failed: ${e.reason}`);
    }
    throw new Error(`run ${id}: event stream ended`);
  }

  /**
   * Stops a run within seconds (it checkpoints first; a queued run is removed
   * from the queue and ends CANCELLED). The cancel key lives 7 days.
   */
  async cancel(id: string): Promise<void> {
    const k = serviceKeys(this.config.prefix);
    const job = await Job.fromId(this.queue, id);
    if (!job) throw new Error(`no run ${id}`);
    await this.redis.set(k.cancel(id), '1', 'EX', 7 * 86400);
    await this.redis.publish(k.cancelChannel, id);
    const state = await job.getState();
    if (state === 'waiting' || state === 'prioritized' || state === 'delayed') {
      await job.remove();
      await this.redis.hset(k.status(id), { state: 'CANCELLED', message: 'cancelled while queued', updated_at_ms: String(Date.now()), finished_at_ms: String(Date.now()) });
    }
  }

  /** Recent runs, newest first. */
  async runs(limit = 50): Promise<RunSummary[]> {
    const jobs = await this.queue.getJobs(['active', 'waiting', 'prioritized', 'delayed', 'completed', 'failed'], 0, limit - 1);
    const out: RunSummary[] = [];
    for (const j of jobs) {
      if (!j?.id) continue;
      const s = await getRunStatus(this.redis, this.config.prefix, j.id);
      const payload = (j.data as { payload?: { name?: string } }).payload;
      out.push({ id: j.id, name: payload?.name ?? '', state: s?.state ?? 'QUEUED', message: s?.message ?? '', createdAtMs: j.timestamp });
    }
    return out.sort((a, b) => b.createdAtMs - a.createdAtMs);
  }

  async close(): Promise<void> {
    await this.events_?.close();
    this.subscriber?.disconnect();
    await this.queue.close();
    this.redis.disconnect();
  }
}

import { Job, Queue, QueueEvents } from 'bullmq';
import { rankJobId, rankQueue } from '../protocol/queues.ts';
import type { RankJobData, RankResult } from '../protocol/rank-job.ts';
import { logRedisErrors, queueConnection } from '../protocol/redis.ts';
import type { ServiceConfig } from '../protocol/service-config.ts';

/** What happened to a rank job, as the worker's queue reports it. */
export type RankEvent =
  | { type: 'progress'; jobId: string; data: unknown }
  | { type: 'completed'; jobId: string; result: RankResult }
  | { type: 'failed'; jobId: string; reason: string };

export type RankJobState = { state: 'pending' } | { state: 'completed'; result: RankResult } | { state: 'failed'; reason: string } | { state: 'gone' };

interface WorkerQueue {
  queue: Queue;
  events: QueueEvents;
  ready: Promise<unknown>;
}

/**
 * Rank jobs onto the workers the scheduler chose: each worker has its own
 * queue (`rankQueue(id)`), and its QueueEvents tell the coordinator of each
 * rank's progress, completion and failure as they happen (no polling).
 */
export class RankDispatch {
  private readonly queues = new Map<string, WorkerQueue>();

  constructor(
    private readonly config: ServiceConfig,
    private readonly onEvent: (e: RankEvent) => void,
    private readonly log: (line: string) => void,
  ) {}

  /** Starts listening to a worker's queue (when it joins). */
  watch(workerId: string): Promise<unknown> {
    const known = this.queues.get(workerId);
    if (known) return known.ready;
    const name = rankQueue(workerId);
    const opts = { connection: queueConnection(this.config.redisUrl), prefix: this.config.prefix };
    const queue = new Queue(name, opts);
    const events = new QueueEvents(name, opts);
    logRedisErrors(queue, `ranks queue of ${workerId}`, this.log);
    logRedisErrors(events, `rank events of ${workerId}`, this.log);
    events.on('progress', ({ jobId, data }) => this.onEvent({ type: 'progress', jobId, data }));
    events.on('completed', ({ jobId, returnvalue }) => this.onEvent({ type: 'completed', jobId, result: parse(returnvalue) as RankResult }));
    events.on('failed', ({ jobId, failedReason }) => this.onEvent({ type: 'failed', jobId, reason: failedReason }));
    const ready = Promise.all([queue.waitUntilReady(), events.waitUntilReady()]).catch((e) => this.log(`worker ${workerId}: ${(e as Error).message}`));
    this.queues.set(workerId, { queue, events, ready });
    return ready;
  }

  /** Stops listening to a lost worker's queue and drops the rank jobs left in it (nobody will take them). */
  async forget(workerId: string): Promise<void> {
    const q = this.queues.get(workerId);
    if (!q) return;
    this.queues.delete(workerId);
    await q.events.close().catch(() => {});
    await q.queue.obliterate({ force: true }).catch(() => {});
    await q.queue.close().catch(() => {});
  }

  /** One rank job per worker: rank r on workers[r]. */
  async dispatch(base: Omit<RankJobData, 'rank'>, workers: readonly string[], priority: number): Promise<void> {
    await Promise.all(
      workers.map(async (workerId, rank) => {
        await this.watch(workerId);
        const q = this.queues.get(workerId)!;
        await q.queue.add('rank', { ...base, rank } satisfies RankJobData, {
          jobId: rankJobId(base.runId, base.attempt, rank),
          priority: priority > 0 ? priority : undefined,
          attempts: 1,
          removeOnComplete: { age: 7 * 86400 },
          removeOnFail: { age: 7 * 86400 },
        });
      }),
    );
  }

  /** Removes a rank job no worker has taken yet; true if it was still waiting. */
  async removeIfWaiting(workerId: string, jobId: string): Promise<boolean> {
    const q = this.queues.get(workerId);
    if (!q) return false;
    const j = await Job.fromId(q.queue, jobId);
    if (!j || !['waiting', 'prioritized', 'delayed'].includes(await j.getState())) return false;
    return j.remove().then(() => true, () => false);
  }

  /** Where a rank job stands (a coordinator taking over reads this; so does the safety sweep). */
  async rankState(workerId: string, jobId: string): Promise<RankJobState> {
    await this.watch(workerId);
    const j = await Job.fromId(this.queues.get(workerId)!.queue, jobId);
    if (!j) return { state: 'gone' };
    const s = await j.getState();
    if (s === 'completed') return { state: 'completed', result: j.returnvalue as RankResult };
    if (s === 'failed') return { state: 'failed', reason: j.failedReason };
    return { state: 'pending' };
  }

  async close(): Promise<void> {
    for (const q of this.queues.values()) {
      await q.events.close().catch(() => {});
      await q.queue.close().catch(() => {});
    }
    this.queues.clear();
  }
}

const parse = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);

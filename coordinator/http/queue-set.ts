import { Queue } from 'bullmq';
import { JOBS_QUEUE, rankQueue } from '../../protocol/queues.ts';
import { logRedisErrors, queueConnection } from '../../protocol/redis.ts';
import type { ServiceConfig } from '../../protocol/service-config.ts';
import { liveWorkers } from '../../protocol/worker-registry.ts';
import type { Redis } from 'ioredis';

/**
 * The queues the dashboard and the metrics look at: `gradpool-jobs` and one
 * rank queue per worker (`gradpool-ranks.<worker id>`: the coordinator puts
 * each rank on the queue of the worker chosen for it). Workers come and go,
 * so the set follows the worker registry: `refresh()` opens a queue for each
 * worker seen for the first time (and tells `onAdded`, e.g. Bull Board). A
 * worker's queue stays listed after it leaves: its jobs are still worth
 * reading until BullMQ removes them.
 */
export class QueueSet {
  readonly jobs: Queue;
  private readonly ranks = new Map<string, Queue>();
  private readonly connection;
  private onAdded: ((q: Queue) => void) | null = null;
  private refreshed: { at: number; done: Promise<void> } | null = null;

  constructor(private readonly config: ServiceConfig, private readonly redis: Redis, private readonly log: (line: string) => void) {
    this.connection = queueConnection(config.redisUrl);
    this.jobs = this.open(JOBS_QUEUE);
  }

  /** Called with every rank queue opened from now on (the ones already open are in `all()`). */
  whenAdded(f: (q: Queue) => void): void {
    this.onAdded = f;
  }

  all(): Queue[] {
    return [this.jobs, ...this.ranks.values()];
  }

  /** The rank queue of a worker (opened on first use). */
  rankQueueOf(workerId: string): Queue {
    const name = rankQueue(workerId);
    let q = this.ranks.get(name);
    if (!q) {
      q = this.open(name);
      this.ranks.set(name, q);
      this.onAdded?.(q);
    }
    return q;
  }

  /**
   * Opens the rank queue of every live worker not seen before. Bull Board's page asks for many
   * files at once and a scrape reads every queue: one registry read a second serves them all.
   */
  refresh(): Promise<void> {
    if (!this.refreshed || Date.now() - this.refreshed.at > 1000) {
      this.refreshed = {
        at: Date.now(),
        done: liveWorkers(this.redis, this.config.prefix).then((ws) => ws.forEach((w) => this.rankQueueOf(w.id))),
      };
    }
    return this.refreshed.done;
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close()));
  }

  private open(name: string): Queue {
    const q = new Queue(name, { connection: this.connection, prefix: this.config.prefix });
    logRedisErrors(q, `dashboard ${name}`, this.log);
    return q;
  }
}

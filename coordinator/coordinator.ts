import type { Redis } from 'ioredis';
import { serviceKeys } from '../protocol/keys.ts';
import { connectRedis } from '../protocol/redis.ts';
import type { ServiceConfig } from '../protocol/service-config.ts';
import { startCoordinatorHttp, type CoordinatorHttp } from './http/coordinator-http.ts';
import { RankDispatch } from './dispatch.ts';
import { Intake } from './intake.ts';
import { LeaderLease } from './leader-lease.ts';
import { Preparer } from './preparer.ts';
import { RunSupervisor } from './run-supervisor.ts';
import { SchedulerLoop } from './scheduler-loop.ts';
import type { SchedulerOptions } from './scheduling/index.ts';
import { WorkerWatch, type WorkerChange } from './worker-watch.ts';

export type { RunOutcome } from './run-outcome.ts';

/**
 * The coordinator: many runs at once on one pool of workers.
 *
 *   intake (gradpool-jobs) ─ checked job ─► scheduler loop ◄─ worker watch (registry)
 *                                              │ decisions          ▲ rank events (QueueEvents)
 *                                              ▼                    │
 *                                       run supervisor ─► dispatch: rank r on workers[r]'s queue
 *
 * Intake checks every job within the second it arrives and fails bad ones at
 * once; the scheduling policy (scheduling/, pure) decides which runs start
 * on which workers, which are paused for whom, and what follows a lost rank;
 * the supervisor carries that out and reports each attempt's end. One
 * coordinator schedules at a time (a lease in Redis); a second one stands by
 * and takes over the runs of a dead one, reattaching to ranks still training.
 */
export interface CoordinatorOptions {
  config: ServiceConfig;
  /** How long ranks wait for each other; default 60 s (GRADPOOL_GANG_DEADLINE_MS). */
  gangDeadlineMs?: number;
  /** Lock of the run jobs and the leader lease; default 60 s (GRADPOOL_RUN_LOCK_MS): how soon another coordinator takes over. */
  lockDurationMs?: number;
  /** The scheduling policy's options; default from GRADPOOL_MIN_RUN_TIME_MS, GRADPOOL_MAX_RESTARTS and the policy's defaults. */
  scheduler?: SchedulerOptions;
  log?: (line: string) => void;
}

export class Coordinator {
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly log: (line: string) => void;
  private readonly lease: LeaderLease;
  private readonly dispatch: RankDispatch;
  private readonly watch: WorkerWatch;
  readonly supervisor: RunSupervisor;
  readonly loop: SchedulerLoop;
  private readonly intake: Intake;
  private readonly gangDeadlineMs: number;
  private http: CoordinatorHttp | null = null;
  /** prepareRun (tokenizing) off the event loop. */
  private readonly preparer = new Preparer();

  constructor(private readonly o: CoordinatorOptions) {
    this.log = o.log ?? ((l) => process.stderr.write(`[coordinator] ${l}\n`));
    const { config } = o;
    this.redis = connectRedis(config.redisUrl, 'coordinator', this.log);
    this.subscriber = connectRedis(config.redisUrl, 'coordinator cancel channel', this.log);
    this.gangDeadlineMs = o.gangDeadlineMs ?? Number(process.env.GRADPOOL_GANG_DEADLINE_MS ?? 60_000);
    const lockDurationMs = o.lockDurationMs ?? Number(process.env.GRADPOOL_RUN_LOCK_MS ?? 60_000);
    this.lease = new LeaderLease(this.redis, serviceKeys(config.prefix).leader, lockDurationMs, this.log);
    this.dispatch = new RankDispatch(config, (e) => this.supervisor.onRankEvent(e), this.log);
    this.supervisor = new RunSupervisor(config, this.redis, this.dispatch, { gangDeadlineMs: this.gangDeadlineMs, preparer: this.preparer, log: this.log });
    this.loop = new SchedulerLoop(o.scheduler ?? schedulerOptionsFromEnv(), (d) => this.supervisor.act(d), this.log, () => this.supervisor.writeQueue());
    this.supervisor.attach(this.loop);
    this.watch = new WorkerWatch(this.redis, config.prefix, (c) => this.onWorker(c), this.log);
    this.intake = new Intake({
      config,
      redis: this.redis,
      lockDurationMs,
      admit: (job, checked) => this.supervisor.admit(job, checked, (workers) => this.watch.claim(workers)),
      log: this.log,
    });
  }

  /** Waits to be the scheduling coordinator, reads the pool, then takes jobs. */
  async start(): Promise<void> {
    await this.lease.acquire();
    this.preparer.warm();
    await this.watch.start();
    const channel = serviceKeys(this.o.config.prefix).cancelChannel;
    this.subscriber.on('message', (_c: string, runId: string) => this.supervisor.cancel(runId));
    await this.subscriber.subscribe(channel);
    await this.intake.start();
    // /metrics, /healthz and the dashboard (coordinator/http/): a read-only view of Redis, plus cancel.
    this.http = await startCoordinatorHttp(this.o.config, this.log);
    this.log(`ready (queue ${this.o.config.prefix}/gradpool-jobs, ${this.loop.summary().workers} worker(s), gang deadline ${this.gangDeadlineMs} ms)`);
  }

  /** What a metrics endpoint or dashboard reads: the pool's counts, the queue (places, reasons), runs held. */
  snapshot() {
    return { pool: this.loop.summary(), queue: this.loop.queued(), runs: this.supervisor.activeRuns };
  }

  private onWorker(c: WorkerChange): void {
    if (c.type === 'joined') {
      void this.dispatch.watch(c.worker.id);
      this.loop.send({ type: 'worker-joined', worker: { id: c.worker.id, host: c.worker.host } });
    } else if (c.type === 'draining') {
      this.loop.send({ type: 'worker-draining', workerId: c.workerId });
    } else {
      this.log(`worker ${c.workerId} lost: ${c.reason}`);
      this.loop.send({ type: 'worker-lost', workerId: c.workerId, reason: c.reason });
      this.supervisor.workerLost(c.workerId, c.reason);
      void this.dispatch.forget(c.workerId);
    }
  }

  /**
   * Stops taking runs. Active runs are not waited for (they may last hours):
   * their ranks keep training, and the coordinator that next takes the run
   * (BullMQ hands it over when this one's lock lapses) reattaches to them.
   */
  async close(): Promise<void> {
    await this.http?.close();
    await this.intake.close();
    this.loop.close();
    this.watch.close();
    this.supervisor.close();
    await this.dispatch.close();
    this.preparer.close();
    await this.lease.release();
    this.subscriber.disconnect();
    this.redis.disconnect();
  }
}

function schedulerOptionsFromEnv(): SchedulerOptions {
  const n = (name: string) => (process.env[name] === undefined ? undefined : Number(process.env[name]));
  const o: SchedulerOptions = {};
  const minRunTimeMs = n('GRADPOOL_MIN_RUN_TIME_MS');
  const maxRestarts = n('GRADPOOL_MAX_RESTARTS');
  const agingIntervalMs = n('GRADPOOL_AGING_INTERVAL_MS');
  const preemptionMinGainMs = n('GRADPOOL_PREEMPTION_MIN_GAIN_MS');
  if (minRunTimeMs !== undefined) o.minRunTimeMs = minRunTimeMs;
  if (maxRestarts !== undefined) o.maxRestarts = maxRestarts;
  if (agingIntervalMs !== undefined) o.agingIntervalMs = agingIntervalMs;
  if (preemptionMinGainMs !== undefined) o.preemptionMinGainMs = preemptionMinGainMs;
  return o;
}

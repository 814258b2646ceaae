import { existsSync } from 'node:fs';
import { Job, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { decodeJobEnvelope } from '../protocol/job-envelope.ts';
import { serviceKeys } from '../protocol/keys.ts';
import { toRunResultJson, type RunResultJson } from '../protocol/messages.ts';
import { JOBS_QUEUE, RANKS_QUEUE } from '../protocol/queues.ts';
import type { RankJobData, RankResult } from '../protocol/rank-job.ts';
import { connectRedis, logRedisErrors, queueConnection } from '../protocol/redis.ts';
import type { ServiceConfig } from '../protocol/service-config.ts';
import { runPaths } from '../train/run-spec.ts';
import { prepareRun } from '../train/prepare-run.ts';
import { setRunStatus, type RunState } from '../protocol/run-status.ts';
import { liveWorkers } from '../protocol/worker-registry.ts';
import { startCoordinatorHttp, type CoordinatorHttp } from './http/coordinator-http.ts';

/**
 * The coordinator: consumes training jobs (queue gradpool-jobs), validates
 * them, prepares the data and plans for the world size it can get, and
 * dispatches one rank job per worker (queue gradpool-ranks). The run's own
 * BullMQ job stays active (and locked) while its ranks train; its progress
 * is rank 0's step reports and its return value the run's result.
 *
 * Gang start: ranks meet in the collectives' rendezvous, which waits at most
 * `gangDeadlineMs`; nobody trains before everyone has arrived. If the gang
 * does not assemble in time (not enough free workers), the started ranks fail
 * with a gang error, the ones never picked up are removed, and the run goes
 * back to waiting: it never half-starts. Runs are taken in priority order
 * (BullMQ priority), one at a time by default.
 */
export interface CoordinatorOptions {
  config: ServiceConfig;
  /** Runs prepared/dispatched at once; default 1 (strict priority order). */
  concurrency?: number;
  /** How long ranks wait for each other; default 60 s (GRADPOOL_GANG_DEADLINE_MS). */
  gangDeadlineMs?: number;
  /** Lock of the run job; default 60 s (GRADPOOL_RUN_LOCK_MS): how soon another coordinator takes over a dead one's runs. */
  lockDurationMs?: number;
  log?: (line: string) => void;
}

/** A run's return value: gradpool.v1.RunResult as JSON. */
export type RunOutcome = RunResultJson;

function outcome(runId: string, r: RankResult | null, worldSize: number, attempts: number, cancelled: boolean): RunOutcome {
  return toRunResultJson({
    run_id: runId,
    run_dir: r?.runDir ?? '',
    best_checkpoint: r?.bestCheckpoint ?? '',
    last_checkpoint: r?.lastCheckpoint ?? '',
    hf_dir: r?.hfDir ?? '',
    ...(r?.firstEval ? { first_eval: r.firstEval } : {}),
    ...(r?.lastEval ? { last_eval: r.lastEval } : {}),
    best_metric: r?.best?.metric ?? '',
    ...(r?.best ? { best_value: r.best.value } : {}),
    stop_reason: cancelled ? `cancelled${r?.stopReason ? ` (${r.stopReason})` : ''}` : (r?.stopReason ?? ''),
    steps: r?.steps ?? 0,
    finished: r?.finished ?? false,
    cancelled,
    world_size: worldSize,
    attempts,
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Coordinator {
  private worker: Worker | null = null;
  private readonly ranks: Queue;
  private readonly rankEvents: QueueEvents;
  private readonly redis: Redis;
  private readonly keys;
  private readonly log: (line: string) => void;
  private readonly gangDeadlineMs: number;
  private http: CoordinatorHttp | null = null;

  constructor(private readonly o: CoordinatorOptions) {
    this.log = o.log ?? ((l) => process.stderr.write(`[coordinator] ${l}\n`));
    const connection = queueConnection(o.config.redisUrl);
    this.ranks = new Queue(RANKS_QUEUE, { connection, prefix: o.config.prefix });
    this.rankEvents = new QueueEvents(RANKS_QUEUE, { connection, prefix: o.config.prefix });
    logRedisErrors(this.ranks, 'ranks queue', this.log);
    logRedisErrors(this.rankEvents, 'rank events', this.log);
    this.redis = connectRedis(o.config.redisUrl, 'coordinator', this.log);
    this.keys = serviceKeys(o.config.prefix);
    this.gangDeadlineMs = o.gangDeadlineMs ?? Number(process.env.GRADPOOL_GANG_DEADLINE_MS ?? 60_000);
  }

  async start(): Promise<void> {
    await this.rankEvents.waitUntilReady();
    const lockDuration = this.o.lockDurationMs ?? Number(process.env.GRADPOOL_RUN_LOCK_MS ?? 60_000);
    this.worker = new Worker(JOBS_QUEUE, (job: Job) => this.processRun(job), {
      connection: queueConnection(this.o.config.redisUrl),
      prefix: this.o.config.prefix,
      concurrency: this.o.concurrency ?? 1,
      lockDuration,
      stalledInterval: lockDuration,
      // A run outlives coordinator restarts: each restart stalls its job once.
      maxStalledCount: 100,
    });
    logRedisErrors(this.worker, 'jobs queue', this.log);
    await this.worker.waitUntilReady();
    // /metrics, /healthz and the dashboard (coordinator/http/): a read-only view of Redis, plus cancel.
    this.http = await startCoordinatorHttp(this.o.config, this.log);
    this.log(`ready (queue ${this.o.config.prefix}/${JOBS_QUEUE}, gang deadline ${this.gangDeadlineMs} ms)`);
  }

  /**
   * Stops taking runs. Active runs are not waited for (they may last hours):
   * their ranks keep training, and the coordinator that next takes the run
   * (BullMQ hands it over when this one's lock lapses) reattaches to them.
   */
  async close(): Promise<void> {
    await this.http?.close();
    await this.worker?.close(true);
    await this.rankEvents.close();
    await this.ranks.close();
    this.redis.disconnect();
  }

  private status(id: string, state: RunState, message = '', progress?: unknown) {
    return setRunStatus(this.redis, this.o.config.prefix, id, state, message, progress).catch(() => {});
  }

  private async cancelled(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.cancel(id))) === 1;
  }

  private async processRun(job: Job): Promise<RunOutcome> {
    const runId = job.id!;
    let decoded;
    try {
      decoded = decodeJobEnvelope(job.data);
    } catch (e) {
      await this.status(runId, 'FAILED', (e as Error).message);
      throw new UnrecoverableError((e as Error).message);
    }
    const { job: spec0, service } = decoded;
    await this.status(runId, 'PREPARING', 'validating, tokenizing, planning');
    const world = await this.waitForWorld(runId, service.world_size);
    if (world === 0) return this.cancelledOutcome(runId, 0);
    let spec;
    try {
      spec = await prepareRun(spec0, world, (l) => this.log(`${runId}: ${l}`));
    } catch (e) {
      await this.status(runId, 'FAILED', (e as Error).message);
      throw new UnrecoverableError((e as Error).message);
    }
    // A run this coordinator (or a predecessor) already dispatched: pick up where it is.
    const attemptKey = this.keys.attempt(runId);
    let attempt = Number((await this.redis.get(attemptKey)) ?? 0);
    // Resume from a checkpoint only if one exists: a run taken over before any
    // rank wrote last.pth (e.g. while its gang was assembling) starts fresh.
    const hasCheckpoint = existsSync(runPaths(spec.runDir).last);
    let resume = service.resume || (attempt > 0 && hasCheckpoint);
    if (!resume && hasCheckpoint) {
      const msg = `${spec.runDir} already holds a run: submit with resume: true, or choose another name`;
      await this.status(runId, 'FAILED', msg);
      throw new UnrecoverableError(msg);
    }
    let reattach = attempt > 0 && (await this.attemptInFlight(runId, attempt, world));
    for (;;) {
      if (!reattach) {
        if (await this.cancelled(runId)) return this.cancelledOutcome(runId, world);
        attempt++;
        await this.redis.set(attemptKey, String(attempt), 'EX', 30 * 86400);
        resume ||= existsSync(runPaths(spec.runDir).last);
      }
      const base: RankJobData = { runId, attempt, worldSize: world, spec, resume, gangDeadlineMs: this.gangDeadlineMs, rank: 0 };
      const result = await this.runAttempt(job, base, service.priority, reattach);
      reattach = false;
      if (result.kind === 'gang') {
        await this.status(runId, 'WAITING_FOR_WORKERS', `gang of ${world} did not assemble (attempt ${attempt}): ${result.message}`);
        this.log(`${runId}: gang of ${world} did not assemble; waiting`);
        await sleep(1000 + Math.random() * 2000);
        continue;
      }
      if (result.kind === 'failed') {
        await this.status(runId, 'FAILED', result.message);
        throw new UnrecoverableError(result.message);
      }
      const r = result.result;
      if (!r.finished) {
        if (await this.cancelled(runId)) {
          await this.status(runId, 'CANCELLED', `cancelled; last checkpoint ${r.lastCheckpoint}`);
          return outcome(runId, r, world, attempt, true);
        }
        // A worker was stopped (SIGTERM): continue from last.pth on whoever is free.
        resume = true;
        await this.status(runId, 'WAITING_FOR_WORKERS', `paused (${r.stopReason}); resuming from ${r.lastCheckpoint}`);
        continue;
      }
      await this.status(runId, 'COMPLETED', r.stopReason ?? 'done', await job.progress);
      return outcome(runId, r, world, attempt, false);
    }
  }

  /** True when rank jobs of this attempt are still queued or training (a coordinator restart found them). */
  private async attemptInFlight(runId: string, attempt: number, world: number): Promise<boolean> {
    for (let r = 0; r < world; r++) {
      const j = await Job.fromId(this.ranks, `${runId}.a${attempt}.r${r}`);
      if (j && !['completed', 'failed'].includes(await j.getState())) return true;
    }
    // All settled (or gone): their results are read by the normal wait, which returns at once.
    const j0 = await Job.fromId(this.ranks, `${runId}.a${attempt}.r0`);
    return j0 !== undefined && j0 !== null;
  }

  private async cancelledOutcome(runId: string, world: number): Promise<RunOutcome> {
    await this.status(runId, 'CANCELLED', 'cancelled before it started');
    return outcome(runId, null, world, 0, true);
  }

  /** The requested world size, or every free worker (at least one); 0 if cancelled while waiting. */
  private async waitForWorld(runId: string, requested: number): Promise<number> {
    let said = false;
    for (;;) {
      if (await this.cancelled(runId)) return 0;
      const workers = await liveWorkers(this.redis, this.o.config.prefix);
      if (requested > 0) return requested; // ranks wait in the queue for workers; the gang deadline decides
      const free = workers.filter((w) => w.busy === null).length;
      if (free > 0) return free;
      if (!said) {
        await this.status(runId, 'WAITING_FOR_WORKERS', 'no free worker yet');
        said = true;
      }
      await sleep(1000);
    }
  }

  private async runAttempt(
    run: Job,
    base: RankJobData,
    priority: number,
    reattach = false,
  ): Promise<{ kind: 'done'; result: RankResult } | { kind: 'gang'; message: string } | { kind: 'failed'; message: string }> {
    const { runId, attempt, worldSize } = base;
    const ids = Array.from({ length: worldSize }, (_, r) => `${runId}.a${attempt}.r${r}`);
    const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
      if (jobId !== ids[0]) return;
      void run.updateProgress(data as object).catch(() => {});
      void this.status(runId, 'RUNNING', '', data);
    };
    this.rankEvents.on('progress', onProgress);
    if (reattach) this.log(`${runId}: reattaching to attempt ${attempt}`);
    else await this.status(runId, 'WAITING_FOR_WORKERS', `dispatching ${worldSize} rank(s), attempt ${attempt}`);
    if (!reattach) await this.ranks.addBulk(
      ids.map((jobId, rank) => ({
        name: 'rank',
        data: { ...base, rank } satisfies RankJobData,
        opts: { jobId, priority: priority > 0 ? priority : undefined, attempts: 1, removeOnComplete: { age: 7 * 86400 }, removeOnFail: { age: 7 * 86400 } },
      })),
    );
    const started = Date.now();
    try {
      const settled = new Map<number, { ok: true; value: RankResult } | { ok: false; reason: string }>();
      while (settled.size < worldSize) {
        await sleep(500);
        for (let r = 0; r < worldSize; r++) {
          if (settled.has(r)) continue;
          const j = await Job.fromId(this.ranks, ids[r]!);
          if (!j) {
            settled.set(r, { ok: false, reason: 'gang start: rank job removed before a worker took it' });
            continue;
          }
          const state = await j.getState();
          if (state === 'completed') settled.set(r, { ok: true, value: j.returnvalue as RankResult });
          else if (state === 'failed') settled.set(r, { ok: false, reason: j.failedReason });
          else if ((state === 'waiting' || state === 'prioritized' || state === 'delayed') && Date.now() - started > this.gangDeadlineMs + 5000) {
            // No worker took this rank in time: release it; the ranks that did start time out in their rendezvous.
            await j.remove().catch(() => {});
            settled.set(r, { ok: false, reason: 'gang start: no worker took this rank before the deadline' });
          }
        }
      }
      const failures = [...settled.entries()].filter(([, s]) => !s.ok) as Array<[number, { ok: false; reason: string }]>;
      if (failures.length === 0) return { kind: 'done', result: (settled.get(0) as { ok: true; value: RankResult }).value };
      if (failures.every(([, f]) => f.reason.startsWith('gang start'))) return { kind: 'gang', message: failures[0]![1].reason };
      const primary = failures.find(([, f]) => !f.reason.startsWith('gang start')) ?? failures[0]!;
      return { kind: 'failed', message: `rank ${primary[0]}: ${primary[1].reason}` };
    } finally {
      this.rankEvents.off('progress', onProgress);
    }
  }
}

import { fork, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { serviceKeys, type RankControl } from '../protocol/keys.ts';
import { toProgressJson } from '../protocol/messages.ts';
import { rankQueue } from '../protocol/queues.ts';
import { HEARTBEAT_MS, WORKER_TTL_MS, type WorkerEntry } from '../protocol/worker-registry.ts';
import type { RankJobData, RankResult } from '../protocol/rank-job.ts';
import { connectRedis, logRedisErrors, queueConnection } from '../protocol/redis.ts';
import type { ServiceConfig } from '../protocol/service-config.ts';
import type { StepReport } from '../train/train-step.ts';
import { probeGpuEngine, rankProcessEnv } from './rank-device.ts';
import type { FromRank, ToRank } from './rank-ipc.ts';
import { startWorkerMetrics, type WorkerMetrics } from './worker-metrics-server.ts';

/**
 * The worker's queue adapter: one BullMQ Worker (concurrency 1: one rank per
 * GPU) on its own ranks queue (`rankQueue(id)`: the coordinator's scheduler
 * places each rank on a chosen worker). Each rank job runs in a forked rank process, so
 * this process's event loop only relays messages and renews the job lock:
 * a step longer than the lock duration cannot make the job stall and run
 * twice. A stalled job (this process died) is failed, not retried: the
 * coordinator restarts the whole gang instead (maxStalledCount 0); it learns
 * of the death from the heartbeat (refreshed every HEARTBEAT_MS, gone after
 * WORKER_TTL_MS), not from BullMQ's stalled check.
 */
export interface RankWorkerOptions {
  config: ServiceConfig;
  /** The GPU this worker owns (its rank processes see only it); null on CPU (they see none). */
  gpu: number | null;
  /** BullMQ lock duration; renewed every half of it. Default 60 s (GRADPOOL_LOCK_MS). */
  lockDurationMs?: number;
  log?: (line: string) => void;
}

const RANK_PROCESS = new URL('./rank-process.ts', import.meta.url).pathname;

/** The rank a worker serves: where its cancel, stop and kill go. */
interface ServedRank {
  runId: string;
  attempt: number;
  child: ChildProcess;
}

export class RankWorker {
  readonly id: string;
  private worker: Worker | null = null;
  private readonly redis: Redis;
  private heartbeat: NodeJS.Timeout | null = null;
  /** The subscription to cancels and the coordinator's stop/kill messages. */
  private control: Redis | null = null;
  /** The rank being served, for those messages. */
  private current: ServedRank | null = null;
  private child: ChildProcess | null = null;
  private busyWith: string | null = null;
  private metrics: WorkerMetrics | null = null;
  private draining = false;
  private closing = false;
  /** The rank process for the next rank job, already started. */
  private warm: ChildProcess | null = null;
  /** It has warmed its engines (the registry's `warm`). */
  private warmReady = false;
  private readonly queueName: string;
  private readonly keys;
  private readonly log: (line: string) => void;

  constructor(private readonly o: RankWorkerOptions) {
    this.id = `${hostname()}-${o.gpu === null ? 'cpu' : `gpu${o.gpu}`}-${process.pid}`;
    this.log = o.log ?? ((l) => process.stderr.write(`[worker ${this.id}] ${l}\n`));
    this.redis = connectRedis(o.config.redisUrl, 'worker', this.log);
    this.keys = serviceKeys(o.config.prefix);
    this.queueName = rankQueue(this.id);
  }

  async start(): Promise<void> {
    // A GPU worker whose engine would run on the CPU is a broken deployment, not a slow one.
    if (this.o.gpu !== null) {
      const problem = probeGpuEngine(this.o.gpu);
      if (problem) throw new Error(problem);
    }
    const lockDuration = this.o.lockDurationMs ?? Number(process.env.GRADPOOL_LOCK_MS ?? 60_000);
    await this.beat();
    await this.subscribeControl();
    this.metrics = await startWorkerMetrics(this.redis, this.log);
    this.heartbeat = setInterval(() => void this.beat().catch(() => {}), HEARTBEAT_MS);
    this.worker = new Worker(this.queueName, (job: Job<RankJobData>) => this.process(job), {
      connection: queueConnection(this.o.config.redisUrl),
      prefix: this.o.config.prefix,
      concurrency: 1,
      lockDuration,
      stalledInterval: lockDuration,
      maxStalledCount: 0,
    });
    logRedisErrors(this.worker, 'ranks queue', this.log);
    await this.worker.waitUntilReady();
    this.warmUp();
    this.log(`ready (queue ${this.o.config.prefix}/${this.queueName}, lock ${lockDuration} ms)`);
  }

  /**
   * Cancels (the client's channel) and the coordinator's stop and kill
   * (preemption, recovery, an overdue stop) reach the rank at once. Messages
   * are fire-and-forget, so the keys decide: they are read when a rank starts
   * and again whenever the subscription (re)connects.
   */
  private async subscribeControl(): Promise<void> {
    const sub = this.redis.duplicate();
    this.control = sub;
    sub.on('error', () => {}); // the main connection logs Redis trouble
    sub.on('message', (channel: string, message: string) => {
      const c = this.current;
      if (!c) return;
      if (channel === this.keys.cancelChannel) {
        if (message === c.runId) this.signalRank(c, 'stop');
        return;
      }
      let m: RankControl;
      try {
        m = JSON.parse(message) as RankControl;
      } catch {
        return;
      }
      if (m.runId === c.runId && m.attempt === c.attempt) this.signalRank(c, m.action);
    });
    sub.on('ready', () => void this.readControlKeys());
    await sub.subscribe(this.keys.cancelChannel, this.keys.rankControl);
  }

  /** The rank's stop (a cancel, or the coordinator's stop) and kill keys, as set now. */
  private async readControlKeys(): Promise<void> {
    const c = this.current;
    if (!c) return;
    const [stops, kill] = await Promise.all([
      this.redis.exists(this.keys.cancel(c.runId), this.keys.stop(c.runId, c.attempt)),
      this.redis.exists(this.keys.kill(c.runId, c.attempt)),
    ]).catch(() => [0, 0]);
    if (kill) this.signalRank(c, 'kill');
    else if (stops) this.signalRank(c, 'stop');
  }

  /**
   * stop: checkpoint at the next optimizer step and end (paused); kill: the
   * attempt did not stop in time. Only while `rank` is still the one served.
   */
  private signalRank(rank: ServedRank, action: RankControl['action']): void {
    if (this.current !== rank) return;
    if (action === 'kill') rank.child.kill('SIGKILL');
    else if (rank.child.connected) rank.child.send({ type: 'stop' } satisfies ToRank);
  }

  private forkRankProcess(warmUp: boolean): ChildProcess {
    // A CPU worker's rank sees no GPU, a GPU worker's only its own (in nvidia-smi's order).
    const env = { ...rankProcessEnv(this.o.gpu), GRADPOOL_RANK_WARM_UP: warmUp ? '1' : '0' };
    return fork(RANK_PROCESS, [], { execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }

  /**
   * A warm rank process waits for the next rank job with its modules compiled,
   * the native addons loaded and each engine's one-time costs paid
   * (engine/warm-up.ts): a rank starts in the time its engine takes to build,
   * not the seconds a fresh Node process with tsx and libtorch needs. Forked
   * when the worker is idle (never beside a training rank); the registry
   * entry says `warm` once it is ready. GRADPOOL_WARM_RANK=0 turns it off.
   */
  private warmUp(): void {
    if (this.closing || this.warm || process.env.GRADPOOL_WARM_RANK === '0') return;
    const child = this.forkRankProcess(true);
    this.warm = child;
    child.on('message', (m: FromRank) => {
      if (m.type !== 'warm' || this.warm !== child) return;
      this.warmReady = true;
      void this.beat().catch(() => {});
    });
    child.once('exit', () => {
      if (this.warm === child) this.dropWarm();
    });
  }

  private dropWarm(): void {
    this.warm = null;
    this.warmReady = false;
  }

  private takeRankProcess(): ChildProcess {
    const warm = this.warm;
    this.dropWarm();
    if (warm && warm.exitCode === null && warm.signalCode === null && warm.connected) return warm;
    return this.forkRankProcess(false);
  }

  /** Registry entry the coordinator counts: alive while refreshed, busy while serving a rank. */
  private async beat(): Promise<void> {
    const entry: WorkerEntry = { id: this.id, host: hostname(), pid: process.pid, gpu: this.o.gpu, busy: this.busyWith, draining: this.draining, warm: this.warmReady, at: Date.now() };
    await this.redis.set(this.keys.worker(this.id), JSON.stringify(entry), 'PX', WORKER_TTL_MS);
  }

  private async process(job: Job<RankJobData>): Promise<RankResult> {
    const d = job.data;
    await this.redis.incr(this.keys.executions(job.id!));
    this.busyWith = `${d.runId}#${d.rank}`;
    this.metrics?.recorder.startRank(d);
    await this.beat();
    this.log(`rank ${d.rank}/${d.worldSize} of run ${d.runId} (attempt ${d.attempt})`);
    const child = this.takeRankProcess();
    this.child = child;
    this.current = { runId: d.runId, attempt: d.attempt, child };
    // A cancel or stop set before this rank started (the messages came before it was here).
    await this.readControlKeys();
    try {
      return await new Promise<RankResult>((resolve, reject) => {
        let settled = false;
        child.on('message', (m: FromRank) => {
          if (m.type === 'step') {
            this.metrics?.recorder.recordStep(m.report, m.peakRssBytes);
            if (d.rank === 0) void job.updateProgress(progressOf(m.report, m.worldSize)).catch(() => {});
          }
          else if (m.type === 'done') {
            settled = true;
            resolve(m.result);
          } else if (m.type === 'failed') {
            settled = true;
            reject(new Error(m.gang ? `gang start: ${m.message}` : m.message));
          }
        });
        child.on('exit', (code, signal) => {
          if (!settled) reject(new Error(`rank lost: rank process died (${signal ?? `exit code ${code}`}) before reporting`));
        });
        child.send({ type: 'start', job: d, redisUrl: this.o.config.redisUrl, prefix: this.o.config.prefix } satisfies ToRank);
      });
    } finally {
      this.current = null;
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise((r) => {
          const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
          child.once('exit', () => r(clearTimeout(t)));
        });
      }
      this.child = null;
      this.busyWith = null;
      await this.beat().catch(() => {});
      this.warmUp();
    }
  }

  /**
   * Graceful stop (SIGTERM): ask the rank process to finish its step and
   * checkpoint; the rank job then completes as "paused" and the coordinator
   * resumes the run elsewhere. Then leave the queue.
   */
  async close(): Promise<void> {
    // The coordinator sees `draining` at the next beat: it places nothing here and resumes the run elsewhere.
    this.draining = true;
    this.closing = true;
    this.warm?.kill('SIGKILL');
    await this.beat().catch(() => {});
    this.child?.send?.({ type: 'stop' } satisfies ToRank);
    await this.worker?.close();
    this.control?.disconnect();
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.redis.del(this.keys.worker(this.id)).catch(() => {});
    await this.metrics?.close();
    this.redis.disconnect();
  }
}

/** A step report in the schema's form (gradpool.v1.Progress), the shape every reader gets. */
function progressOf(r: StepReport, worldSize: number) {
  return toProgressJson({
    stage: r.stage,
    step: r.step,
    max_steps: r.maxSteps,
    global_step: r.globalStep,
    loss: r.loss,
    lr: r.lr,
    grad_norm: r.gradNorm,
    tokens_per_s: r.tokensPerSec,
    eta_s: r.etaSec,
    step_s: r.seconds,
    world_size: worldSize,
    ...(r.eval ? { eval: r.eval } : {}),
  });
}

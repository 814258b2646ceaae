import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { serviceKeys } from '../../protocol/keys.ts';
import { rankJobId } from '../../protocol/queues.ts';
import type { RankJobData } from '../../protocol/rank-job.ts';
import { liveWorkers, type WorkerEntry } from '../../protocol/worker-registry.ts';
import type { StagePlan } from '../../spec/plan-stages.ts';
import { runPaths } from '../../train/run-spec.ts';
import { readCurrentLog } from '../../train/step-log.ts';
import type { QueueSet } from './queue-set.ts';

/**
 * A read-only view of the pool for the dashboard and the metrics, from what
 * the service already keeps in Redis: the worker registry, the runs' status
 * hashes, the queues' jobs (the run job's envelope and result, rank 0's job
 * of the current attempt with the RunSpec), and the run folder's log and
 * checkpoints. It never writes (cancel goes through GradpoolClient).
 */
export interface RunRow {
  id: string;
  name: string;
  state: string;
  message: string;
  /** Every field of the status hash (progress parsed), so fields added by the scheduler show up as they come. */
  status: Record<string, unknown>;
  worldSize: number;
  restarts: number;
  createdAtMs: number;
}

export interface RunDetail extends RunRow {
  runDir: string | null;
  plans: StagePlan[];
  checkpoints: Array<{ file: string; bytes: number; modifiedMs: number }>;
  /** Steps (global step, loss, lr) and evaluations from logs/train.jsonl as it stands. */
  curves: { step: number[]; loss: number[]; lr: number[] };
  evals: { step: number[]; loss: number[]; perplexity: number[]; accuracy: number[] };
}

/** Points per curve sent to the page: a long run's steps are thinned evenly (the last one always kept). */
const MAX_POINTS = 4000;

function thin<T>(xs: T[], max: number): T[] {
  if (xs.length <= max) return xs;
  const stride = Math.ceil(xs.length / max);
  return xs.filter((_, i) => i % stride === 0 || i === xs.length - 1);
}

export class PoolView {
  private readonly keys;
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly queues: QueueSet) {
    this.keys = serviceKeys(prefix);
  }

  workers(): Promise<WorkerEntry[]> {
    return liveWorkers(this.redis, this.prefix);
  }

  /** Runs refused before training, by reason (the intake and the supervisor count them). */
  intakeRejections(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.intakeRejections);
  }

  /** Every status hash Redis keeps (30 days), raw. */
  async statusHashes(): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>();
    const head = this.keys.status('');
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${head}*`, 'COUNT', 500);
      cursor = next;
      const tx = this.redis.multi();
      for (const k of keys) tx.hgetall(k);
      const rows = (await tx.exec()) ?? [];
      keys.forEach((k, i) => out.set(k.slice(head.length), (rows[i]?.[1] as Record<string, string>) ?? {}));
    } while (cursor !== '0');
    return out;
  }

  /** The newest runs (by submission), with status, world size and restarts. */
  async runs(limit = 50): Promise<RunRow[]> {
    const jobs = await this.queues.jobs.getJobs(['active', 'waiting', 'prioritized', 'delayed', 'completed', 'failed'], 0, limit - 1);
    const rows = await Promise.all(jobs.filter((j): j is Job => Boolean(j?.id)).map((j) => this.row(j)));
    return rows.sort((a, b) => b.createdAtMs - a.createdAtMs).slice(0, limit);
  }

  async run(id: string): Promise<RunDetail | null> {
    const job = await Job.fromId(this.queues.jobs, id);
    if (!job) return null;
    const row = await this.row(job);
    const rank0 = await this.rank0Job(id);
    const runDir = rank0?.spec.runDir ?? ((job.returnvalue as { run_dir?: string } | null)?.run_dir || null);
    const detail: RunDetail = {
      ...row,
      runDir,
      plans: rank0?.spec.plans ?? [],
      checkpoints: [],
      curves: { step: [], loss: [], lr: [] },
      evals: { step: [], loss: [], perplexity: [], accuracy: [] },
    };
    if (!runDir) return detail;
    const dir = runPaths(runDir).checkpoints;
    if (existsSync(dir)) {
      detail.checkpoints = readdirSync(dir)
        .filter((f) => f.endsWith('.pth'))
        .map((f) => {
          const s = statSync(join(dir, f));
          return { file: f, bytes: s.size, modifiedMs: s.mtimeMs };
        })
        .sort((a, b) => b.modifiedMs - a.modifiedMs);
    }
    const log = readCurrentLog(runDir);
    for (const s of thin(log.steps, MAX_POINTS)) {
      detail.curves.step.push(s.globalStep);
      detail.curves.loss.push(s.loss);
      detail.curves.lr.push(s.lr);
    }
    for (const e of log.evals) {
      const m = e as unknown as Record<string, number>; // the evaluation's metrics are the record's fields
      detail.evals.step.push(Number(e.globalStep));
      detail.evals.loss.push(m.loss ?? NaN);
      detail.evals.perplexity.push(m.perplexity ?? NaN);
      detail.evals.accuracy.push(m.masked_accuracy ?? m.accuracy ?? NaN);
    }
    return detail;
  }

  private async row(job: Job): Promise<RunRow> {
    const id = job.id!;
    const hash = await this.redis.hgetall(this.keys.status(id));
    const status: Record<string, unknown> = { ...hash };
    if (hash.progress) status.progress = JSON.parse(hash.progress);
    // A JSON envelope's payload carries the name and the requested world size (a binary one: unknown until it runs).
    const payload = (job.data as { payload?: unknown }).payload;
    const data = typeof payload === 'object' && payload !== null ? (payload as { name?: string; world_size?: number }) : {};
    const progress = status.progress as { world_size?: number } | undefined;
    return {
      id,
      name: data.name ?? '',
      state: hash.state ?? 'QUEUED',
      message: hash.message ?? '',
      status,
      worldSize: Number(hash.world_size ?? 0) || progress?.world_size || data.world_size || 0,
      restarts: Math.max(0, Number(hash.attempt ?? 0) - 1),
      createdAtMs: job.timestamp,
    };
  }

  /**
   * Rank 0's job of the run's current attempt: its RunSpec (run folder, stage plans). The
   * coordinator records the attempt and its workers (`attempt` key); rank 0 is on the first
   * worker's queue.
   */
  private async rank0Job(id: string): Promise<RankJobData | null> {
    const raw = await this.redis.get(this.keys.attempt(id));
    if (!raw) return null;
    let rec: { attempt?: unknown; workers?: unknown };
    try {
      rec = JSON.parse(raw) as typeof rec;
    } catch {
      return null;
    }
    if (!Number.isInteger(rec.attempt) || !Array.isArray(rec.workers) || typeof rec.workers[0] !== 'string') return null;
    const j = await Job.fromId(this.queues.rankQueueOf(rec.workers[0]), rankJobId(id, rec.attempt as number, 0));
    return j ? (j.data as RankJobData) : null;
  }
}

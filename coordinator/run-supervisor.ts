import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UnrecoverableError, type Job as BullJob } from 'bullmq';
import type { Redis } from 'ioredis';
import { serviceKeys, type RankControl } from '../protocol/keys.ts';
import { toProgressJson, type ProgressJson } from '../protocol/messages.ts';
import { rankJobId } from '../protocol/queues.ts';
import { countRejection, setRunStatus, type RunState, type RunStatusFields } from '../protocol/run-status.ts';
import type { ServiceConfig } from '../protocol/service-config.ts';
import { PlanError } from '../spec/plan-stages.ts';
import { runPaths } from '../train/run-spec.ts';
import type { RankDispatch, RankEvent } from './dispatch.ts';
import type { CheckedJob } from './job-checks.ts';
import { newAttempt, parseRankJobId, type AttemptRecord, type RunEntry } from './run-attempt.ts';
import { attemptOutcome, runOutcome, type RankSettled, type RunOutcome } from './run-outcome.ts';
import { allowedWorldSizes, type Decision, type JobRequest } from './scheduling/index.ts';
import type { SchedulerLoop } from './scheduler-loop.ts';
import type { Preparer } from './preparer.ts';

type Of<T extends Decision['type']> = Extract<Decision, { type: T }>;

const STATE_TTL_S = 30 * 86400;

/**
 * Carries out the scheduler's decisions on the real pool and reports back
 * what happened: `start` prepares the run for that world size and puts rank r
 * on workers[r]'s queue; `stop` sets the attempt's stop flag (its ranks
 * checkpoint at the next optimizer step and end as paused) and withdraws rank
 * jobs not yet taken; `kill` sets the kill flag; `requeued`/`finished` write
 * the status hash, and `finished` settles the run's BullMQ job. Rank jobs'
 * events (their queues' QueueEvents) settle ranks; when every rank of an
 * attempt has settled, the scheduler hears `run-ended`.
 */
export class RunSupervisor {
  private readonly runs = new Map<string, RunEntry>();
  /** Per run, decisions are carried out one after another (a stop waits for its start's dispatch). */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly keys;
  private readonly written = new Map<string, string>();
  private loop!: SchedulerLoop;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly config: ServiceConfig,
    private readonly redis: Redis,
    private readonly dispatch: RankDispatch,
    private readonly o: { gangDeadlineMs: number; preparer: Preparer; log: (line: string) => void },
  ) {
    this.keys = serviceKeys(config.prefix);
  }

  /** The loop this supervisor reports to (they reference each other). */
  attach(loop: SchedulerLoop): void {
    this.loop = loop;
    // Events can be lost (a Redis reconnect): every few seconds, read the rank jobs of attempts still open.
    this.sweeper = setInterval(() => void this.sweep(), 5000);
  }

  private log(line: string): void {
    this.o.log(line);
  }

  get activeRuns(): number {
    return this.runs.size;
  }

  /**
   * A validated job enters the pool; resolves with its result or rejects when
   * it fails. A run whose attempt is recorded (a coordinator took it over) is
   * adopted where it stands instead of starting again.
   */
  admit(job: BullJob, checked: CheckedJob, adoptable: (workers: string[]) => string[]): Promise<RunOutcome> {
    const id = job.id!;
    if (this.runs.has(id)) return Promise.reject(new UnrecoverableError(`run ${id} is already in the pool`));
    return new Promise<RunOutcome>((resolve, reject) => {
      const entry: RunEntry = {
        id, job, checked, resolve, reject, specs: new Map(), attempt: null, lastResult: null, lastProgress: null,
        state: 'QUEUED', lastEstimateAt: 0, segments: [], epochWorlds: [], queuedSince: job.timestamp, cancelHeard: false,
      };
      entry.epochWorlds = jobRequest(entry).worldSizes.slice();
      this.runs.set(id, entry);
      this.enter(entry, adoptable).catch((e) => this.fail(entry, (e as Error).message));
    });
  }

  private async enter(run: RunEntry, adoptable: (workers: string[]) => string[]): Promise<void> {
    const request = jobRequest(run);
    const prev = await this.recordedAttempt(run.id);
    if (prev) {
      const a = newAttempt(prev.attempt, prev.workers);
      a.dispatched = true;
      run.attempt = a;
      await Promise.all(prev.workers.map((w, rank) => this.readRank(run, a, w, rank)));
      this.log(`${run.id}: taking over attempt ${a.attempt} (${a.worldSize} rank(s) on ${a.workers.join(', ')})`);
      const gone = adoptable(prev.workers);
      this.loop.send({ type: 'run-adopted', job: request, attempt: a.attempt, workers: prev.workers });
      for (const w of gone) {
        this.loop.send({ type: 'worker-lost', workerId: w, reason: 'not in the worker registry' });
        this.workerLost(w, 'not in the worker registry');
        void this.dispatch.forget(w);
      }
      this.maybeEnded(run, a);
    } else {
      await this.status(run, 'QUEUED', 'queued');
      this.loop.send({ type: 'job-added', job: request });
    }
    if (await this.redis.exists(this.keys.cancel(run.id))) this.cancel(run.id);
  }

  /** A cancel heard on the channel, or its key found at intake or by the sweep (once per run). */
  cancel(runId: string): void {
    const run = this.runs.get(runId);
    if (!run || run.cancelHeard) return;
    run.cancelHeard = true;
    this.loop.send({ type: 'job-cancelled', runId });
  }

  act(decisions: Decision[]): void {
    for (const d of decisions) {
      const prev = this.chains.get(d.runId) ?? Promise.resolve();
      const next = prev.then(() => this.carryOut(d)).catch((e) => this.log(`${d.runId}: ${d.type}: ${(e as Error).message}`));
      this.chains.set(d.runId, next);
    }
  }

  private async carryOut(d: Decision): Promise<void> {
    const run = this.runs.get(d.runId);
    if (!run) return;
    switch (d.type) {
      case 'start':
        return this.start(run, d);
      case 'stop':
        return this.stop(run, d);
      case 'kill':
        return this.kill(run, d);
      case 'requeued':
        return this.status(run, run.segments.length ? 'PAUSED' : 'QUEUED', d.message);
      case 'finished':
        return this.finish(run, d);
    }
  }

  private async start(run: RunEntry, d: Of<'start'>): Promise<void> {
    const a = newAttempt(d.attempt, d.workers);
    run.attempt = a;
    const placedAt = Date.now();
    const at = { attempt: d.attempt, world_size: d.worldSize };
    await this.status(run, 'WAITING_FOR_WORKERS', `attempt ${d.attempt}: starting ${d.worldSize} rank(s) on ${d.workers.join(', ')}`, at);
    let spec;
    try {
      spec = await this.prepare(run, d.worldSize);
    } catch (e) {
      // The job itself is wrong (vocabulary, sequence length, data): no restart would help.
      if (d.attempt === 1) await countRejection(this.redis, this.config.prefix, 'preparation_failed').catch(() => {});
      for (let r = 0; r < a.worldSize; r++) a.settled.set(r, { ok: false, reason: (e as Error).message });
      return this.maybeEnded(run, a);
    }
    const preparedAt = Date.now();
    if (a.stopRequested) {
      for (let r = 0; r < a.worldSize; r++) a.settled.set(r, { ok: false, reason: 'gang start: stopped before dispatch' });
      return this.maybeEnded(run, a);
    }
    const resume = run.checked.service.resume || existsSync(runPaths(spec.runDir).last);
    run.segments.push(`attempt ${d.attempt}: world size ${d.worldSize}${resume ? ', resumed from last.pth' : ''}`);
    this.log(`${run.id}: attempt ${d.attempt} at world size ${d.worldSize} (${spec.plans.map((p) => `stage ${p.stage}: accumulation ${p.accumulation}`).join(', ')}) on ${d.workers.join(', ')}${d.via === 'backfill' ? ' (backfill)' : ''}`);
    await this.redis.set(this.keys.attempt(run.id), JSON.stringify({ attempt: d.attempt, workers: d.workers }), 'EX', STATE_TTL_S);
    await this.dispatch.dispatch(
      {
        runId: run.id, attempt: d.attempt, worldSize: d.worldSize, spec, resume, gangDeadlineMs: this.o.gangDeadlineMs,
        startup: { queuedAt: run.queuedSince, placedAt, preparedAt },
      },
      d.workers,
      run.checked.service.priority,
    );
    a.dispatched = true;
  }

  private prepare(run: RunEntry, worldSize: number) {
    let p = run.specs.get(worldSize);
    if (!p) {
      p = this.prepareAt(run, worldSize);
      run.specs.set(worldSize, p);
      p.catch(() => run.specs.delete(worldSize));
    }
    return p;
  }

  /**
   * An elastic run plans its epochs for all its sizes at once (the same
   * samples per epoch at each); when the corpus is too small for that, for
   * each size alone, from its first attempt on.
   */
  private async prepareAt(run: RunEntry, worldSize: number) {
    const log = (l: string) => this.log(`${run.id}: ${l}`);
    const job = () => structuredClone(run.checked.job);
    if (run.epochWorlds.length > 1) {
      try {
        return await this.o.preparer.prepare(job(), worldSize, log, run.epochWorlds);
      } catch (e) {
        if (!(e instanceof PlanError)) throw e;
        log(`epochs planned per world size (${e.message}): a segment at another size reads other samples after the first epoch`);
        run.epochWorlds = [];
      }
    }
    return this.o.preparer.prepare(job(), worldSize, log);
  }

  private async stop(run: RunEntry, d: Of<'stop'>): Promise<void> {
    const a = run.attempt;
    if (!a || a.attempt !== d.attempt || a.ended) return;
    a.stopRequested = true;
    this.log(`${run.id}: stopping attempt ${d.attempt} (${d.reason}): ${d.message}`);
    await this.redis.set(this.keys.stop(run.id, d.attempt), d.reason, 'EX', 86400);
    await this.publishControl({ runId: run.id, attempt: d.attempt, action: 'stop' });
    await this.status(run, run.state, d.message);
    await Promise.all(
      a.workers.map(async (w, rank) => {
        if (a.settled.has(rank)) return;
        if (await this.dispatch.removeIfWaiting(w, rankJobId(run.id, a.attempt, rank))) this.settle(run, a, rank, { ok: false, reason: 'removed before a worker took it' });
      }),
    );
  }

  private async kill(run: RunEntry, d: Of<'kill'>): Promise<void> {
    this.log(`${run.id}: killing attempt ${d.attempt}: ${d.message}`);
    await this.redis.set(this.keys.kill(run.id, d.attempt), '1', 'EX', 86400);
    await this.publishControl({ runId: run.id, attempt: d.attempt, action: 'kill' });
  }

  /** The key is what counts; the message only makes the workers act at once (rank-worker.ts). */
  private async publishControl(m: RankControl): Promise<void> {
    await this.redis.publish(this.keys.rankControl, JSON.stringify(m)).catch((e) => this.log(`${m.runId}: publishing ${m.action}: ${(e as Error).message}`));
  }

  private async finish(run: RunEntry, d: Of<'finished'>): Promise<void> {
    this.runs.delete(run.id);
    this.chains.delete(run.id);
    this.written.delete(run.id);
    const ws = run.attempt?.worldSize ?? 0;
    const attempts = run.attempt?.attempt ?? 0;
    const at = () => ({ attempt: attempts, world_size: ws, progress: run.lastProgress ?? undefined });
    if (run.segments.length > 1) this.log(`${run.id}: segments: ${run.segments.join('; ')}`);
    if (d.state === 'FAILED') {
      const message = d.attempts.length > 1 ? `${d.message}\n  ${d.attempts.join('\n  ')}` : d.message;
      await this.status(run, 'FAILED', message, at());
      run.reject(new UnrecoverableError(message));
      return;
    }
    await this.finalProgress(run);
    const cancelled = d.state === 'CANCELLED';
    const last = run.lastResult?.lastCheckpoint ? `; last checkpoint ${runPaths(run.lastResult.runDir).last}` : '';
    await this.status(run, d.state, cancelled ? `${d.message}${last}` : d.message, at());
    run.resolve(runOutcome(run.id, join(run.checked.job.output_dir, run.checked.job.name), run.lastResult, ws, attempts, cancelled));
  }

  /**
   * The evaluation after the last step is no step's report: it goes into the
   * progress stream (and the status hash) as a last Progress carrying it.
   */
  private async finalProgress(run: RunEntry): Promise<void> {
    const r = run.lastResult;
    if (!r?.lastEval || !run.lastProgress) return;
    const final = toProgressJson({ ...(run.lastProgress as ProgressJson), eval: r.lastEval, message: 'final evaluation' });
    run.lastProgress = final;
    await run.job.updateProgress(final as unknown as object).catch(() => {});
  }

  private fail(run: RunEntry, message: string): void {
    this.runs.delete(run.id);
    void this.status(run, 'FAILED', message);
    run.reject(new UnrecoverableError(message));
  }

  /** A rank job's event from its worker's queue. */
  onRankEvent(e: RankEvent): void {
    const id = parseRankJobId(e.jobId);
    const run = id && this.runs.get(id.runId);
    const a = run?.attempt;
    if (!id || !run || !a || a.attempt !== id.attempt) return;
    if (e.type === 'progress') {
      if (id.rank === 0) this.progress(run, a, e.data);
      return;
    }
    this.settle(run, a, id.rank, e.type === 'completed' ? { ok: true, result: e.result } : { ok: false, reason: e.reason });
  }

  private progress(run: RunEntry, a: AttemptRecord, data: unknown): void {
    run.lastProgress = data;
    void run.job.updateProgress(data as object).catch(() => {});
    void this.status(run, 'RUNNING', '', { progress: data, attempt: a.attempt, world_size: a.worldSize });
    const eta = (data as { eta_s?: number }).eta_s;
    if (typeof eta === 'number' && Number.isFinite(eta) && Date.now() - run.lastEstimateAt > 5000) {
      run.lastEstimateAt = Date.now();
      this.loop.send({ type: 'run-progress', runId: run.id, attempt: a.attempt, remainingMs: Math.max(0, eta * 1000) });
    }
  }

  /** A worker is gone: its ranks will never report. */
  workerLost(workerId: string, reason: string): void {
    for (const run of this.runs.values()) {
      const a = run.attempt;
      if (!a || a.ended) continue;
      a.workers.forEach((w, rank) => {
        if (w === workerId && !a.settled.has(rank)) this.settle(run, a, rank, { ok: false, reason: `rank lost: worker ${workerId} lost (${reason})` });
      });
    }
  }

  private settle(run: RunEntry, a: AttemptRecord, rank: number, s: RankSettled): void {
    if (a.settled.has(rank)) return;
    a.settled.set(rank, s);
    if (!s.ok) this.log(`${run.id}: attempt ${a.attempt} rank ${rank}: ${s.reason.split('\n')[0]}`);
    this.maybeEnded(run, a);
  }

  private maybeEnded(run: RunEntry, a: AttemptRecord): void {
    if (a.ended || a.settled.size < a.worldSize) return;
    a.ended = true;
    run.queuedSince = Date.now();
    void this.redis.exists(this.keys.cancel(run.id)).then((n) => {
      const r = attemptOutcome(a.settled, { stopRequested: a.stopRequested, cancelled: n === 1 });
      if (r.result) run.lastResult = r.result;
      this.log(`${run.id}: attempt ${a.attempt} ended ${r.outcome}: ${r.reason}`);
      this.loop.send({ type: 'run-ended', runId: run.id, attempt: a.attempt, outcome: r.outcome, reason: r.reason });
    });
  }

  private async readRank(run: RunEntry, a: AttemptRecord, workerId: string, rank: number): Promise<void> {
    const s = await this.dispatch.rankState(workerId, rankJobId(run.id, a.attempt, rank));
    if (s.state === 'completed') this.settle(run, a, rank, { ok: true, result: s.result });
    else if (s.state === 'failed') this.settle(run, a, rank, { ok: false, reason: s.reason });
    else if (s.state === 'gone') this.settle(run, a, rank, { ok: false, reason: 'removed before a worker took it' });
  }

  private async sweep(): Promise<void> {
    // A cancel set without the channel message is heard here, within 5 s: every run's key in one
    // round trip, before the rank reads (which may be slow), so none waits behind them.
    const unheard = [...this.runs.values()].filter((r) => !r.cancelHeard);
    if (unheard.length) {
      const found = await this.redis.mget(unheard.map((r) => this.keys.cancel(r.id))).catch(() => []);
      unheard.forEach((r, i) => found[i] != null && this.cancel(r.id));
    }
    for (const run of this.runs.values()) {
      const a = run.attempt;
      if (!a || a.ended || !a.dispatched) continue;
      await Promise.all(a.workers.map((w, rank) => (a.settled.has(rank) ? null : this.readRank(run, a, w, rank).catch(() => {}))));
    }
  }

  private async recordedAttempt(runId: string): Promise<{ attempt: number; workers: string[] } | null> {
    const raw = await this.redis.get(this.keys.attempt(runId));
    if (!raw) return null;
    try {
      const v = JSON.parse(raw) as { attempt: number; workers: string[] };
      return Number.isInteger(v.attempt) && Array.isArray(v.workers) && v.workers.length ? v : null;
    } catch {
      return null;
    }
  }

  /** Writes queued runs' places and reasons into their status hashes (only what changed). */
  writeQueue(): void {
    for (const q of this.loop.queued()) {
      const run = this.runs.get(q.runId);
      if (!run) continue;
      const line = `${q.position}|${q.reason}`;
      if (this.written.get(q.runId) === line) continue;
      this.written.set(q.runId, line);
      const state = run.segments.length ? 'PAUSED' : 'QUEUED';
      void this.status(run, state, `${state === 'PAUSED' ? 'paused, ' : ''}position ${q.position} in the queue: ${q.reason}`, { queue_position: q.position, queue_reason: q.reason });
    }
  }

  private async status(run: RunEntry, state: RunState, message: string, extra: RunStatusFields = {}): Promise<void> {
    run.state = state;
    if (state !== 'QUEUED' && state !== 'PAUSED') this.written.delete(run.id);
    await setRunStatus(this.redis, this.config.prefix, run.id, state, message, extra).catch(() => {});
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }
}

/** The scheduler's view of a job: priority, the world sizes it may use, preemptible, restarts. */
function jobRequest(run: RunEntry): JobRequest {
  const s = run.checked.service;
  const max = s.world_size > 0 ? s.world_size : Infinity;
  const min = s.min_world_size || (s.world_size > 0 ? s.world_size : 1);
  return {
    id: run.id,
    // 0 (none) ranks before 1, as BullMQ serves jobs without a priority first.
    priority: s.priority,
    worldSizes: allowedWorldSizes(run.checked.job.stages, min, max),
    preemptible: s.preemptible ?? true,
    ...(s.max_restarts !== undefined ? { maxRestarts: s.max_restarts } : {}),
    submittedAt: Math.min(run.job.timestamp, Date.now()),
  };
}

import { performance } from 'node:perf_hooks';
import { Rng } from '../../common/rng.ts';
import {
  createScheduler,
  queueStatus,
  step,
  type AttemptOutcome,
  type SchedulerEvent,
  type SchedulerOptions,
  type SchedulerState,
  type StepResult,
  type WorkerInfo,
} from '../../coordinator/scheduling/index.ts';
import { EventHeap } from './event-heap.ts';
import type { SimJob } from './workload.ts';

/**
 * A discrete-event simulation of the pool driving the real policy: the
 * simulator plays the coordinator and the workers (runs progress, checkpoint,
 * pause, crash; workers fail and come back), and every decision comes from
 * `step`. Time is simulated; only `step` calls are timed on the wall clock.
 */
export interface SimModel {
  /** Gang start + checkpoint load before an attempt makes progress. */
  startupMs: number;
  /** From a stop request to the checkpoint written and the ranks gone. */
  pauseMs: number;
  /** From a worker's death to the survivors having exited. */
  detectMs: number;
  /** A run checkpoints this often; a crash loses what came after. */
  checkpointMs: number;
  /** When an attempt first reports its remaining time (Progress.eta_s, after its first steps), then how often. */
  firstEtaMs: number;
  progressEveryMs: number;
  /** Spread (lognormal sigma) of those reports around the truth. */
  etaSigma: number;
  /** Each worker fails at this mean interval (exponential) and is back after repairMs. */
  mtbfMs: number;
  repairMs: number;
  /** A periodic tick besides the wake-ups the policy asks for. */
  tickMs: number;
}

export interface SimResult {
  /** Busy worker-time / (workers × time) while the queue is non-empty. */
  utilisation: number;
  /** The same over the workers alive at the time (failed ones excluded). */
  aliveUtilisation: number;
  /** Work of all jobs at their requested size / (workers × makespan): what was not spent on startups, pauses and lost work. */
  usefulShare: number;
  makespanMs: number;
  /** Submission → first start, per priority. */
  waits: Map<number, number[]>;
  /** Wall time of each policy call, ms. */
  decisionMs: Float64Array;
  /** CPU time of the process during each call, ms: the wall time without what other processes took (cpuUsage resolution: 1 µs). */
  decisionCpuMs: Float64Array;
  /** Wall time of queueStatus (every queued run's position and reason) after every 50th call, with the queue length then. */
  statusMs: Float64Array;
  statusQueueLengths: Float64Array;
  counts: { calls: number; starts: number; backfilled: number; preemptions: number; leaseReclaims: number; resizes: number; restarts: number; failedRuns: number; kills: number; workerFailures: number };
}

/** No job finishing for this long (simulated) means a bug, not a slow pool. */
const STALL_MS = 30 * 86_400_000;

type SimEvent =
  | { kind: 'arrive'; job: SimJob }
  | { kind: 'finish' | 'progress'; runId: string; attempt: number }
  | { kind: 'ended'; runId: string; attempt: number; outcome: AttemptOutcome; reason: string }
  | { kind: 'fail' | 'repair'; worker: WorkerInfo }
  /** `tick`: the periodic one; `wake`: one the policy asked for (wakeAt). */
  | { kind: 'tick' | 'wake' };

interface Attempt {
  attempt: number;
  size: number;
  workers: Set<string>;
  workStartAt: number;
  /** Remaining work at the requested size when it started (ms). */
  remainingAtStart: number;
  etaBias: number;
}

interface JobProgress {
  job: SimJob;
  maxSize: number;
  remaining: number;
  firstStartAt: number | null;
}

export class Simulator {
  private readonly heap = new EventHeap<SimEvent>();
  private readonly state: SchedulerState;
  private readonly rng: Rng;
  private readonly progress = new Map<string, JobProgress>();
  private readonly attempts = new Map<string, Attempt>();
  private readonly workerRun = new Map<string, string>();
  private readonly wakes = new Set<number>();
  private readonly times: number[] = [];
  private readonly cpuTimes: number[] = [];
  private readonly statusTimes: number[] = [];
  private readonly statusLengths: number[] = [];
  private readonly counts: SimResult['counts'] = { calls: 0, starts: 0, backfilled: 0, preemptions: 0, leaseReclaims: 0, resizes: 0, restarts: 0, failedRuns: 0, kills: 0, workerFailures: 0 };
  private now = 0;
  private lastT = 0;
  private busy = 0;
  private alive = 0;
  private window = { time: 0, busy: 0, alive: 0 };
  private finished = 0;
  private lastFinishAt = 0;

  constructor(
    private readonly jobs: SimJob[],
    private readonly workers: WorkerInfo[],
    policy: SchedulerOptions,
    private readonly m: SimModel,
    seed: number,
    private readonly onProgress: (line: string) => void = () => {},
  ) {
    this.state = createScheduler(policy);
    this.rng = new Rng(seed);
  }

  run(): SimResult {
    for (const w of this.workers) {
      this.call({ type: 'worker-joined', at: 0, worker: w });
      this.alive++;
      this.heap.push(this.exp(this.m.mtbfMs), { kind: 'fail', worker: w });
    }
    for (const job of this.jobs) this.heap.push(job.submitAt, { kind: 'arrive', job });
    this.heap.push(this.m.tickMs, { kind: 'tick' });
    let reported = 0;
    while (this.finished < this.jobs.length) {
      const next = this.heap.pop();
      if (!next || next.at - this.lastFinishAt > STALL_MS) {
        const left = [...this.progress.values()].filter((p) => p.remaining > 0).map((p) => p.job.id);
        throw new Error(`simulation stalled: no job finished for ${STALL_MS / 86_400_000} simulated days; ${left.length} unfinished (${left.slice(0, 5).join(', ')} …)`);
      }
      this.advance(next.at);
      this.handle(next.item);
      if (this.finished >= reported + this.jobs.length / 10) {
        reported = this.finished;
        this.onProgress(`${this.finished} of ${this.jobs.length} jobs done, simulated ${(this.now / 3.6e6).toFixed(1)} h, ${this.counts.calls} policy calls`);
      }
    }
    return this.result();
  }

  private exp(mean: number): number {
    return this.now - mean * Math.log(1 - this.rng.next());
  }

  /** Accumulates busy time while the queue is non-empty (the queue only changes at events). */
  private advance(t: number): void {
    const dt = t - this.lastT;
    if (this.state.queue.length > 0) {
      this.window.time += dt;
      this.window.busy += this.busy * dt;
      this.window.alive += this.alive * dt;
    }
    this.now = this.lastT = t;
  }

  private handle(e: SimEvent): void {
    switch (e.kind) {
      case 'arrive': {
        const j = e.job;
        this.progress.set(j.id, { job: j, maxSize: j.worldSizes[j.worldSizes.length - 1]!, remaining: j.workMs, firstStartAt: null });
        const job = { id: j.id, priority: j.priority, worldSizes: j.worldSizes, preemptible: j.preemptible, ...(j.estimateMs === undefined ? {} : { expectedDurationMs: j.estimateMs }) };
        return this.call({ type: 'job-added', at: this.now, job });
      }
      case 'finish':
        if (!this.isCurrent(e.runId, e.attempt)) return;
        this.closeAttempt(e.runId, 'all');
        return this.call({ type: 'run-ended', at: this.now, runId: e.runId, attempt: e.attempt, outcome: 'completed' });
      case 'ended':
        if (!this.isCurrent(e.runId, e.attempt)) return;
        this.closeAttempt(e.runId, e.outcome === 'paused' ? 'done' : 'committed');
        return this.call({ type: 'run-ended', at: this.now, runId: e.runId, attempt: e.attempt, outcome: e.outcome, reason: e.reason });
      case 'progress':
        return this.reportProgress(e.runId, e.attempt);
      case 'fail':
        return this.workerFails(e.worker);
      case 'repair':
        this.alive++;
        this.heap.push(this.exp(this.m.mtbfMs), { kind: 'fail', worker: e.worker });
        return this.call({ type: 'worker-joined', at: this.now, worker: e.worker });
      case 'tick':
        this.heap.push(this.now + this.m.tickMs, { kind: 'tick' });
        return this.call({ type: 'tick', at: this.now });
      case 'wake':
        this.wakes.delete(this.now);
        return this.call({ type: 'tick', at: this.now });
    }
  }

  private call(event: SchedulerEvent): void {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r = step(this.state, event);
    this.times.push(performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    this.cpuTimes.push((cpu.user + cpu.system) / 1000);
    if (++this.counts.calls % 50 === 0) this.timeQueueStatus();
    this.apply(r);
  }

  private timeQueueStatus(): void {
    const t0 = performance.now();
    queueStatus(this.state);
    this.statusTimes.push(performance.now() - t0);
    this.statusLengths.push(this.state.queue.length);
  }

  private apply(r: StepResult): void {
    for (const d of r.decisions) {
      if (d.type === 'start') this.startAttempt(d.runId, d.attempt, d.workers, d.via);
      else if (d.type === 'stop') {
        if (d.reason === 'preempt') {
          const lease = this.state.runs.get(d.runId)!.leaseUntil;
          if (lease !== null && lease <= this.now) this.counts.leaseReclaims++;
          else this.counts.preemptions++;
        }
        if (d.reason === 'resize') this.counts.resizes++;
        const recover = d.reason === 'recover';
        const outcome: AttemptOutcome = recover ? 'crashed' : 'paused';
        this.heap.push(this.now + (recover ? this.m.detectMs : this.m.pauseMs), { kind: 'ended', runId: d.runId, attempt: d.attempt, outcome, reason: d.message });
      } else if (d.type === 'kill') {
        this.counts.kills++;
        this.heap.push(this.now, { kind: 'ended', runId: d.runId, attempt: d.attempt, outcome: 'crashed', reason: 'killed' });
      } else {
        // The policy ended an attempt itself (its last worker died): what was not checkpointed is lost.
        if (this.attempts.has(d.runId)) this.closeAttempt(d.runId, 'committed');
        if (d.type === 'requeued' && d.cause === 'restart') this.counts.restarts++;
        if (d.type === 'finished') this.jobFinished(d.runId, d.state);
      }
    }
    if (r.wakeAt !== null && r.wakeAt > this.now && !this.wakes.has(r.wakeAt)) {
      this.wakes.add(r.wakeAt);
      this.heap.push(r.wakeAt, { kind: 'wake' });
    }
  }

  private startAttempt(runId: string, attempt: number, workers: string[], via: string): void {
    const p = this.progress.get(runId)!;
    const size = workers.length;
    const a: Attempt = { attempt, size, workers: new Set(workers), workStartAt: this.now + this.m.startupMs, remainingAtStart: p.remaining, etaBias: Math.exp(this.m.etaSigma * this.rng.normal()) };
    this.attempts.set(runId, a);
    for (const w of workers) this.workerRun.set(w, runId);
    this.busy += size;
    p.firstStartAt ??= this.now;
    this.counts.starts++;
    if (via === 'backfill') this.counts.backfilled++;
    const finishAt = a.workStartAt + (p.remaining * p.maxSize) / size;
    this.heap.push(finishAt, { kind: 'finish', runId, attempt });
    if (a.workStartAt + this.m.firstEtaMs < finishAt) this.heap.push(a.workStartAt + this.m.firstEtaMs, { kind: 'progress', runId, attempt });
  }

  private isCurrent(runId: string, attempt: number): boolean {
    return this.attempts.get(runId)?.attempt === attempt;
  }

  /** Work done by the attempt so far, at the requested size (ms): all of it, or up to the last checkpoint. */
  private workDone(runId: string, a: Attempt, upTo: 'done' | 'committed'): number {
    const elapsed = Math.max(0, this.now - a.workStartAt);
    const kept = upTo === 'done' ? elapsed : Math.floor(elapsed / this.m.checkpointMs) * this.m.checkpointMs;
    return (kept * a.size) / this.progress.get(runId)!.maxSize;
  }

  private closeAttempt(runId: string, keep: 'all' | 'done' | 'committed'): void {
    const a = this.attempts.get(runId)!;
    const p = this.progress.get(runId)!;
    p.remaining = keep === 'all' ? 0 : Math.max(0, a.remainingAtStart - this.workDone(runId, a, keep));
    this.busy -= a.workers.size;
    for (const w of a.workers) this.workerRun.delete(w);
    this.attempts.delete(runId);
  }

  private reportProgress(runId: string, attempt: number): void {
    const a = this.attempts.get(runId);
    if (!a || a.attempt !== attempt) return;
    const p = this.progress.get(runId)!;
    const left = ((a.remainingAtStart - this.workDone(runId, a, 'done')) * p.maxSize) / a.size;
    if (left > this.m.progressEveryMs) this.heap.push(this.now + this.m.progressEveryMs, { kind: 'progress', runId, attempt });
    this.call({ type: 'run-progress', at: this.now, runId, attempt, remainingMs: Math.max(0, left * a.etaBias) });
  }

  private workerFails(worker: WorkerInfo): void {
    this.counts.workerFailures++;
    this.alive--;
    const runId = this.workerRun.get(worker.id);
    if (runId) {
      this.attempts.get(runId)!.workers.delete(worker.id);
      this.workerRun.delete(worker.id);
      this.busy--;
    }
    this.heap.push(this.now + this.m.repairMs, { kind: 'repair', worker });
    this.call({ type: 'worker-lost', at: this.now, workerId: worker.id, reason: 'simulated failure' });
  }

  private jobFinished(runId: string, state: string): void {
    this.finished++;
    this.lastFinishAt = this.now;
    if (state === 'FAILED') this.counts.failedRuns++;
  }

  private result(): SimResult {
    const waits = new Map<number, number[]>();
    let work = 0;
    for (const p of this.progress.values()) {
      if (!waits.has(p.job.priority)) waits.set(p.job.priority, []);
      if (p.firstStartAt !== null) waits.get(p.job.priority)!.push(p.firstStartAt - p.job.submitAt);
      work += p.job.workMs * p.maxSize;
    }
    return {
      utilisation: this.window.busy / (this.workers.length * this.window.time),
      aliveUtilisation: this.window.busy / this.window.alive,
      usefulShare: work / (this.workers.length * this.lastFinishAt),
      makespanMs: this.lastFinishAt,
      waits,
      decisionMs: Float64Array.from(this.times),
      decisionCpuMs: Float64Array.from(this.cpuTimes),
      statusMs: Float64Array.from(this.statusTimes),
      statusQueueLengths: Float64Array.from(this.statusLengths),
      counts: this.counts,
    };
  }
}

import assert from 'node:assert/strict';
import {
  createScheduler,
  step,
  type AttemptOutcome,
  type Decision,
  type JobRequest,
  type SchedulerOptions,
  type SchedulerState,
  type StepResult,
  type WorkerInfo,
} from '../../coordinator/scheduling/index.ts';

type Start = Extract<Decision, { type: 'start' }>;

/**
 * Drives the policy as the coordinator would, one event at a time, and keeps
 * every decision: the tests read like the events of a day on the pool.
 */
export class PoolDriver {
  readonly state: SchedulerState;
  readonly decisions: Decision[] = [];
  now = 0;

  constructor(workers: number | WorkerInfo[], options: SchedulerOptions = {}) {
    this.state = createScheduler(options);
    const list = typeof workers === 'number' ? Array.from({ length: workers }, (_, i) => ({ id: `w${i}` })) : workers;
    for (const worker of list) this.send({ type: 'worker-joined', at: 0, worker });
  }

  /** Moves the clock to `t` (ms) for the next events. */
  at(t: number): this {
    this.now = t;
    return this;
  }

  send(event: Parameters<typeof step>[1]): StepResult {
    const r = step(this.state, event);
    this.decisions.push(...r.decisions);
    return r;
  }

  add(id: string, job: Partial<JobRequest> = {}): StepResult {
    return this.send({ type: 'job-added', at: this.now, job: { id, priority: 1, worldSizes: [1], ...job } });
  }

  /** Reports the end of the run's current attempt. */
  end(id: string, outcome: AttemptOutcome, reason?: string): StepResult {
    const attempt = this.state.runs.get(id)?.attempt ?? 1;
    return this.send({ type: 'run-ended', at: this.now, runId: id, attempt, outcome, reason });
  }

  lose(workerId: string, reason = 'heartbeat expired'): StepResult {
    return this.send({ type: 'worker-lost', at: this.now, workerId, reason });
  }

  join(id: string, host?: string): StepResult {
    return this.send({ type: 'worker-joined', at: this.now, worker: { id, host } });
  }

  tick(): StepResult {
    return this.send({ type: 'tick', at: this.now });
  }

  /** Runs holding workers and training (not stopping), sorted. */
  running(): string[] {
    return [...this.state.runs.values()].filter((r) => r.phase === 'running').map((r) => r.id).sort();
  }

  queued(): string[] {
    return [...this.state.queue];
  }

  workersOf(id: string): string[] {
    return [...this.state.runs.get(id)!.workers];
  }

  starts(id?: string): Start[] {
    return this.decisions.filter((d): d is Start => d.type === 'start' && (id === undefined || d.runId === id));
  }

  lastStart(id: string): Start {
    const s = this.starts(id).at(-1);
    assert.ok(s, `run ${id} never started`);
    return s;
  }

  of<T extends Decision['type']>(type: T, id?: string): Array<Extract<Decision, { type: T }>> {
    return this.decisions.filter((d): d is Extract<Decision, { type: T }> => d.type === type && (id === undefined || d.runId === id));
  }
}

export const MIN = 60_000;
export const HOUR = 3_600_000;

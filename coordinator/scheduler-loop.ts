import { createScheduler, poolSummary, queueStatus, step, type Decision, type QueuedRunStatus, type SchedulerEvent, type SchedulerOptions, type SchedulerState } from './scheduling/index.ts';

/** An event as the coordinator sends it: the loop stamps the time. */
export type PoolEvent = SchedulerEvent extends infer E ? (E extends { at: number } ? Omit<E, 'at'> : never) : never;

/**
 * The coordinator's one scheduling state: every event (a job validated, a
 * worker joined or lost, an attempt ended, a cancel) goes through `send`,
 * which applies it to the pure policy (scheduling/) and hands the decisions
 * to the supervisor, in order. It keeps the wake-up timer the policy asks
 * for (minimum run times, stop deadlines) plus a tick a minute.
 */
export class SchedulerLoop {
  readonly state: SchedulerState;
  private timer: NodeJS.Timeout | null = null;
  private readonly ticker: NodeJS.Timeout;
  private closed = false;

  constructor(
    options: SchedulerOptions,
    private readonly act: (decisions: Decision[]) => void,
    private readonly log: (line: string) => void,
    /** After every event: the queue may have changed (positions, reasons). */
    private readonly afterEvent: () => void = () => {},
  ) {
    this.state = createScheduler(options, Date.now());
    this.ticker = setInterval(() => this.send({ type: 'tick' }), 60_000);
    this.ticker.unref();
  }

  /** Applies one event now; throws SchedulerInputError on a malformed one (nothing changed then). */
  send(event: PoolEvent): void {
    if (this.closed) return;
    const r = step(this.state, { ...event, at: Math.max(Date.now(), this.state.now) } as SchedulerEvent);
    for (const n of r.notes) this.log(`scheduler: ${n}`);
    if (r.wakeAt !== null) this.wakeAt(r.wakeAt);
    this.act(r.decisions);
    this.afterEvent();
  }

  queued(): QueuedRunStatus[] {
    return queueStatus(this.state);
  }

  summary() {
    return poolSummary(this.state);
  }

  private wakeAt(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.send({ type: 'tick' });
    }, Math.max(0, at - Date.now()) + 5);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.ticker);
    if (this.timer) clearTimeout(this.timer);
  }
}

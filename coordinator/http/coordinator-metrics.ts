import type { QueueSet } from './queue-set.ts';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PoolView } from './pool-view.ts';

/**
 * The coordinator's Prometheus registry: Node's process metrics, and the
 * pool as Redis holds it, read at each scrape (any coordinator answers the
 * same): workers by state, runs by state, the scheduling wait (submission to
 * first step) and the runs the intake rejected, by reason. The queues' depths
 * per state are BullMQ's own exposition (`queue.exportPrometheusMetrics()`),
 * merged so each metric family appears once.
 */
export class CoordinatorMetrics {
  readonly registry = new Registry();
  /** Runs whose wait this process has counted (status hashes live 30 days). */
  private readonly seenStarted = new Set<string>();
  /** The shared rejection counts as last exported (the counter moves by what was added since). */
  private readonly rejectedSeen = new Map<string, number>();

  private refreshing: { at: number; done: Promise<void> } | null = null;
  private readonly wait: Histogram;
  private readonly rejected: Counter<'reason'>;
  private readonly waitingLongest: Gauge;
  private readonly workers: Gauge<'state' | 'device'>;
  private readonly runs: Gauge<'state'>;

  constructor(private readonly view: PoolView, private readonly queues: QueueSet, private readonly prefix: string) {
    collectDefaultMetrics({ register: this.registry });
    // prom-client collects each metric on its own: every one waits for the same read of Redis.
    const registers = [this.registry];
    const collect = () => this.refresh();
    this.wait = new Histogram({
      name: 'gradpool_scheduling_wait_seconds',
      help: 'From submission to the first training step, per run',
      buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
      registers,
      collect,
    });
    this.rejected = new Counter({ name: 'gradpool_intake_rejections_total', help: 'Runs the coordinator refused before training, by reason', labelNames: ['reason'], registers, collect });
    this.waitingLongest = new Gauge({ name: 'gradpool_runs_waiting_longest_seconds', help: 'How long the longest-waiting run that has not started yet has waited', registers, collect });
    this.workers = new Gauge({ name: 'gradpool_workers', help: 'Live workers (registry heartbeat) by state and device kind', labelNames: ['state', 'device'], registers, collect });
    this.runs = new Gauge({ name: 'gradpool_runs', help: 'Runs by state (status hashes Redis keeps, 30 days)', labelNames: ['state'], registers, collect });
  }

  /** One read of Redis per scrape (reused for a second), shared by every metric above. */
  private refresh(): Promise<void> {
    if (!this.refreshing || Date.now() - this.refreshing.at > 1000) this.refreshing = { at: Date.now(), done: this.read() };
    return this.refreshing.done;
  }

  private async read(): Promise<void> {
    const now = Date.now();
    const [ws, hashes, rejections] = await Promise.all([this.view.workers(), this.view.statusHashes(), this.view.intakeRejections()]);
    const { workers, runs } = this;
    workers.reset();
    for (const state of ['busy', 'idle']) for (const device of ['gpu', 'cpu']) workers.set({ state, device }, 0);
    for (const w of ws) workers.inc({ state: w.busy ? 'busy' : 'idle', device: w.gpu === null ? 'cpu' : 'gpu' });
    runs.reset();
    for (const s of ['QUEUED', 'PREPARING', 'WAITING_FOR_WORKERS', 'RUNNING', 'PAUSED', 'COMPLETED', 'FAILED', 'CANCELLED']) runs.set({ state: s }, 0);
    let longest = 0;
    for (const [id, h] of hashes) {
      if (!h.state) continue;
      runs.inc({ state: h.state });
      const created = Number(h.created_at_ms ?? 0);
      const started = Number(h.started_at_ms ?? 0);
      if (started > 0 && created > 0 && !this.seenStarted.has(id)) {
        this.seenStarted.add(id);
        this.wait.observe(Math.max(0, (started - created) / 1000));
      }
      if (!started && created > 0 && ['QUEUED', 'PREPARING', 'WAITING_FOR_WORKERS'].includes(h.state)) longest = Math.max(longest, (now - created) / 1000);
    }
    this.waitingLongest.set(longest);
    for (const [reason, raw] of Object.entries(rejections)) {
      const n = Number(raw);
      const delta = n - (this.rejectedSeen.get(reason) ?? 0);
      if (delta > 0) this.rejected.inc({ reason }, delta);
      this.rejectedSeen.set(reason, n);
    }
  }

  /** BullMQ's gauges of every queue, as one exposition (HELP/TYPE once per family). */
  async queueMetrics(): Promise<string> {
    await this.queues.refresh().catch(() => {});
    const texts = await Promise.all(this.queues.all().map((q) => q.exportPrometheusMetrics({ prefix: this.prefix })));
    return mergeExpositions(texts);
  }
}


/** Concatenates Prometheus text expositions, grouping each family's samples under one HELP/TYPE. */
export function mergeExpositions(texts: string[]): string {
  const families = new Map<string, { meta: string[]; samples: string[] }>();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      const name = meta ? meta[2]! : line.split(/[{\s]/)[0]!;
      const f = families.get(name) ?? { meta: [], samples: [] };
      families.set(name, f);
      if (meta) {
        if (!f.meta.some((m) => m.startsWith(`# ${meta[1]} `))) f.meta.push(line);
      } else f.samples.push(line);
    }
  }
  return [...families.values()].map((f) => [...f.meta, ...f.samples].join('\n')).join('\n');
}

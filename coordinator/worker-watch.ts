import type { Redis } from 'ioredis';
import { HEARTBEAT_MS, liveWorkers, WORKER_TTL_MS, type WorkerEntry } from '../protocol/worker-registry.ts';

export type WorkerChange =
  | { type: 'joined'; worker: WorkerEntry }
  | { type: 'draining'; workerId: string }
  | { type: 'lost'; workerId: string; reason: string };

/**
 * The pool as the worker registry shows it: workers refresh their key every
 * HEARTBEAT_MS and it expires after WORKER_TTL_MS, so reading the registry
 * once per heartbeat notices a worker killed with -9 within seconds (BullMQ's
 * stalled check would take a lock duration or more).
 */
export class WorkerWatch {
  private readonly known = new Map<string, { draining: boolean }>();
  /** Busy workers not yet known: they may belong to a run a dead coordinator left; they join once free or claimed. */
  private readonly held = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private scanning = false;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly onChange: (c: WorkerChange) => void,
    private readonly log: (line: string) => void,
  ) {}

  /** Reads the registry once (so the pool is known before any run is placed), then every heartbeat. */
  async start(): Promise<void> {
    await this.scan();
    this.timer = setInterval(() => void this.scan(), HEARTBEAT_MS);
  }

  /**
   * Workers found training a run this coordinator takes over: the scheduler
   * learns of them with the run (run-adopted), not as free workers. Returns
   * those not in the registry at all (dead): the caller reports them lost.
   */
  claim(workerIds: string[]): string[] {
    const gone: string[] = [];
    for (const id of workerIds) {
      if (this.held.delete(id)) this.known.set(id, { draining: false });
      else if (!this.known.has(id)) gone.push(id);
    }
    return gone;
  }

  /** A worker seen dead by other means (its rank process's peers): forget it now. */
  lost(workerId: string, reason: string): void {
    if (!this.known.delete(workerId)) return;
    this.onChange({ type: 'lost', workerId, reason });
  }

  private async scan(): Promise<void> {
    if (this.scanning) return;
    this.scanning = true;
    try {
      const now = Date.now();
      const live = (await liveWorkers(this.redis, this.prefix)).filter((w) => now - w.at < WORKER_TTL_MS + 2000);
      const seen = new Set<string>();
      for (const w of live) {
        seen.add(w.id);
        const k = this.known.get(w.id);
        if (!k && w.busy !== null) {
          this.held.add(w.id);
        } else if (!k) {
          this.held.delete(w.id);
          this.known.set(w.id, { draining: !!w.draining });
          this.onChange({ type: 'joined', worker: w });
          if (w.draining) this.onChange({ type: 'draining', workerId: w.id });
        } else if (w.draining && !k.draining) {
          k.draining = true;
          this.onChange({ type: 'draining', workerId: w.id });
        }
      }
      for (const id of [...this.held]) if (!seen.has(id)) this.held.delete(id);
      for (const id of [...this.known.keys()]) {
        if (!seen.has(id)) this.lost(id, `no heartbeat for ${WORKER_TTL_MS} ms`);
      }
    } catch (e) {
      this.log(`worker registry: ${(e as Error).message}`);
    } finally {
      this.scanning = false;
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

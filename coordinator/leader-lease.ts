import type { Redis } from 'ioredis';

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * One coordinator schedules at a time: the pool has one scheduling state.
 * The lease is a Redis key renewed every third of its life; a standby
 * coordinator waits for it, so a dead coordinator is replaced within one
 * lease (the same time BullMQ takes to hand its run jobs over). Losing the
 * lease (Redis unreachable for a whole lease) ends the process: two
 * schedulers must never place runs on the same workers.
 */
export class LeaderLease {
  private readonly token = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  private renewer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly ttlMs: number,
    private readonly log: (line: string) => void,
  ) {}

  async acquire(): Promise<void> {
    let said = false;
    for (;;) {
      if ((await this.redis.set(this.key, this.token, 'PX', this.ttlMs, 'NX')) === 'OK') break;
      if (!said) this.log(`standing by: another coordinator schedules (${this.key})`);
      said = true;
      await new Promise((r) => setTimeout(r, Math.min(1000, this.ttlMs / 2)));
    }
    this.renewer = setInterval(() => void this.renew(), Math.max(100, this.ttlMs / 3));
  }

  private async renew(): Promise<void> {
    const ok = await this.redis.eval(RENEW, 1, this.key, this.token, String(this.ttlMs)).catch(() => null);
    if (ok === 1) return;
    if (ok === 0) {
      this.log('lost the coordinator lease to another coordinator; exiting so that one scheduler places runs');
      process.exit(1);
    }
  }

  async release(): Promise<void> {
    if (this.renewer) clearInterval(this.renewer);
    await this.redis.eval(RELEASE, 1, this.key, this.token).catch(() => {});
  }
}

/**
 * Redis rendezvous for one communicator.
 *
 * Keys live under `gradpool:rdzv:<runId>:<tag>:` (tag 'main' unless a run
 * has several communicators). Every init gets a fresh random generation G and all
 * of its keys are `<prefix><G>:...`, so keys left behind by a crashed earlier
 * run can never be mistaken for this one's:
 *
 *  - rank 0 writes `<prefix>gen = G`, then collects `<G>:join:<r>` from every
 *    rank and publishes `<G>:roster` (all peers' info and the backend choice);
 *  - every other rank reads `gen`, joins under it with a random nonce, and
 *    accepts a roster only if it lists that nonce, so a stale roster from an
 *    old run is ignored; when `gen` changes (the new rank 0 arrived) it
 *    re-joins under the new generation.
 *
 * Later rounds (`<G>:<round>:<r>`) exchange backend data. Rank 0 deletes the
 * rendezvous keys once the backend is up (every rank has read them by then),
 * each rank deletes its heartbeat key on destroy, and after a failure the
 * survivors delete everything under G. All keys also carry a TTL as a backstop.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { CollectiveError } from './errors.ts';

export interface PeerInfo {
  rank: number;
  worldSize: number;
  nonce: string;
  host: string;
  /** hostname + kernel boot id: equal only for processes on one machine. */
  hostKey: string;
  pid: number;
  pidns: string;
  [k: string]: unknown;
}

export interface Roster<D> {
  generation: string;
  worldSize: number;
  peers: PeerInfo[];
  decision?: D;
  error?: string;
}

export interface JoinOptions<D> {
  redisUrl: string;
  runId: string;
  tag?: string;
  rank: number;
  worldSize: number;
  timeoutMs: number;
  info: { host: string; hostKey: string; pid: number; pidns: string; [k: string]: unknown };
  /** Rank 0 only: picks the backend from everyone's info (throw to refuse). */
  decide: (peers: PeerInfo[]) => D;
  /** Aborting it ends any later round's wait at once (a peer that aborted too may have removed the keys). */
  signal?: AbortSignal;
}

const HEARTBEAT_MS = 1000;
// Long enough that a busy event loop (a long evaluation on rank 0) is not taken for a dead rank.
const HEARTBEAT_TTL_MS = 90_000;
const FAILED_GENERATION_TTL_MS = 3000;

/** The tag is always part of the prefix so one run's communicators never share keys. */
export function keyPrefix(runId: string, tag = 'main'): string {
  return `gradpool:rdzv:${runId}:${tag}:`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Rendezvous<D> {
  private hbTimer: NodeJS.Timeout | undefined;
  private hbInFlight: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly redis: Redis,
    readonly prefix: string,
    readonly generation: string,
    readonly rank: number,
    readonly worldSize: number,
    readonly timeoutMs: number,
    readonly roster: Roster<D>,
    private readonly signal?: AbortSignal,
  ) {}

  get peers(): PeerInfo[] {
    return this.roster.peers;
  }

  get decision(): D {
    return this.roster.decision as D;
  }

  private get ttl(): number {
    return Math.max(2 * this.timeoutMs, 60_000);
  }

  private key(suffix: string): string {
    return `${this.prefix}${this.generation}:${suffix}`;
  }

  static async join<D>(o: JoinOptions<D>): Promise<Rendezvous<D>> {
    const redis = await connect(o.redisUrl, o.timeoutMs);
    const prefix = keyPrefix(o.runId, o.tag);
    const deadline = Date.now() + o.timeoutMs;
    const ttl = Math.max(2 * o.timeoutMs, 60_000);
    const me: PeerInfo = { ...o.info, rank: o.rank, worldSize: o.worldSize, nonce: randomBytes(8).toString('hex') };
    try {
      const roster =
        o.rank === 0
          ? await hostJoin(redis, prefix, me, o, deadline, ttl)
          : await guestJoin<D>(redis, prefix, me, o, deadline, ttl);
      return new Rendezvous<D>(redis, prefix, roster.generation, o.rank, o.worldSize, o.timeoutMs, roster, o.signal);
    } catch (err) {
      redis.disconnect();
      throw err;
    }
  }

  /**
   * Publishes this rank's value for `round` and returns every rank's value.
   * Passing an Error publishes the failure so the other ranks fail at once
   * instead of waiting for the timeout.
   */
  async allGather<T>(round: string, value: T | Error): Promise<T[]> {
    const failed = value instanceof Error;
    const payload = failed ? { error: value.message } : { value };
    await this.redis.set(this.key(`${round}:${this.rank}`), JSON.stringify(payload), 'PX', this.ttl);
    if (failed) throw value;
    const keys = Array.from({ length: this.worldSize }, (_, r) => this.key(`${round}:${r}`));
    const raw = await waitForKeys(this.redis, keys, Date.now() + this.timeoutMs, `round '${round}'`, undefined, this.signal);
    return raw.map((s, r) => {
      const v = JSON.parse(s) as { value?: T; error?: string };
      if (v.error !== undefined) {
        throw new CollectiveError('BACKEND', `rank ${r} failed to set up the backend: ${v.error}`, r);
      }
      return v.value as T;
    });
  }

  /** Rank 0, once the backend is up: nobody reads rendezvous keys any more. */
  async finishInit(): Promise<void> {
    const keep = this.key('hb:');
    const keys = (await scanKeys(this.redis, `${this.prefix}*`)).filter((k) => !k.startsWith(keep));
    // Everything else under this run's prefix is ours or a stale generation.
    if (keys.length > 0) await this.redis.del(...keys);
  }

  startHeartbeat(): void {
    const beat = () => {
      if (this.closed) return;
      this.hbInFlight = this.redis
        .set(this.key(`hb:${this.rank}`), String(Date.now()), 'PX', HEARTBEAT_TTL_MS)
        .catch(() => undefined);
    };
    beat();
    this.hbTimer = setInterval(beat, HEARTBEAT_MS);
    this.hbTimer.unref();
  }

  /** Ranks whose heartbeat key is missing or older than `staleMs`. */
  async staleHeartbeats(staleMs: number): Promise<number[]> {
    const keys = Array.from({ length: this.worldSize }, (_, r) => this.key(`hb:${r}`));
    const vals = await this.redis.mget(...keys);
    const now = Date.now();
    return vals.flatMap((v, r) => (r !== this.rank && (v === null || now - Number(v) > staleMs) ? [r] : []));
  }

  /**
   * Stops the heartbeat and removes this rank's keys; after a failure also
   * every key of the generation (a dead peer cannot remove its own).
   */
  async close(failed: boolean): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.hbTimer) clearInterval(this.hbTimer);
    await this.hbInFlight;
    try {
      if (failed) {
        const keys = await scanKeys(this.redis, `${this.prefix}${this.generation}:*`);
        if ((await this.redis.get(`${this.prefix}gen`)) === this.generation) keys.push(`${this.prefix}gen`);
        if (keys.length > 0) await this.redis.del(...keys);
      } else {
        await this.redis.del(this.key(`hb:${this.rank}`));
      }
    } finally {
      this.redis.disconnect();
    }
  }

  /** Removes the generation's keys after a failed init, then disconnects. */
  async abandon(): Promise<void> {
    await this.close(true);
  }
}

async function connect(url: string, timeoutMs: number): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: Math.min(timeoutMs, 10_000),
    maxRetriesPerRequest: 3,
    retryStrategy: (times) => (times > 5 ? null : 200),
  });
  redis.on('error', () => undefined); // surfaced through the failing commands
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new CollectiveError('RENDEZVOUS', `cannot reach Redis at ${url}: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  }
  return redis;
}

async function hostJoin<D>(
  redis: Redis, prefix: string, me: PeerInfo, o: JoinOptions<D>, deadline: number, ttl: number,
): Promise<Roster<D>> {
  const generation = randomBytes(6).toString('hex');
  try {
    return await hostJoinGeneration(redis, prefix, generation, me, o, deadline, ttl);
  } catch (err) {
    // Leave the failed generation (and its error roster) readable just long
    // enough for waiting ranks to see it, then let Redis drop it.
    const keys = await scanKeys(redis, `${prefix}${generation}:*`).catch(() => [] as string[]);
    if ((await redis.get(`${prefix}gen`).catch(() => null)) === generation) keys.push(`${prefix}gen`);
    await Promise.all(keys.map((k) => redis.pexpire(k, FAILED_GENERATION_TTL_MS))).catch(() => undefined);
    throw err;
  }
}

async function hostJoinGeneration<D>(
  redis: Redis, prefix: string, generation: string, me: PeerInfo, o: JoinOptions<D>, deadline: number, ttl: number,
): Promise<Roster<D>> {
  const k = (s: string) => `${prefix}${generation}:${s}`;
  await redis.set(`${prefix}gen`, generation, 'PX', ttl);
  await redis.set(k('join:0'), JSON.stringify(me), 'PX', ttl);
  const keys = Array.from({ length: o.worldSize }, (_, r) => k(`join:${r}`));
  const raw = await waitForKeys(redis, keys, deadline, 'join', (vals) => {
    // Fail fast on a world-size mismatch instead of waiting for the timeout.
    for (const v of vals) {
      if (v === null) continue;
      const p = JSON.parse(v) as PeerInfo;
      if (p.worldSize !== o.worldSize) return `world size mismatch: rank 0 has worldSize ${o.worldSize}, rank ${p.rank} has ${p.worldSize}`;
    }
    return undefined;
  }).catch(async (err: CollectiveError) => {
    if (err.code === 'MISMATCH') {
      const roster: Roster<D> = { generation, worldSize: o.worldSize, peers: [], error: err.message };
      await redis.set(k('roster'), JSON.stringify(roster), 'PX', ttl);
    }
    throw err;
  });
  const peers = raw.map((s) => JSON.parse(s) as PeerInfo);
  const roster: Roster<D> = { generation, worldSize: o.worldSize, peers };
  try {
    roster.decision = o.decide(peers);
  } catch (err) {
    roster.error = (err as Error).message;
  }
  await redis.set(k('roster'), JSON.stringify(roster), 'PX', ttl);
  if (roster.error) throw new CollectiveError('MISMATCH', roster.error);
  return roster;
}

async function guestJoin<D>(
  redis: Redis, prefix: string, me: PeerInfo, o: JoinOptions<D>, deadline: number, ttl: number,
): Promise<Roster<D>> {
  let joined: string | null = null;
  try {
    return await guestPoll<D>(redis, prefix, me, o, deadline, ttl, (g) => (joined = g));
  } catch (err) {
    if (joined !== null) await redis.del(`${prefix}${joined}:join:${o.rank}`).catch(() => undefined);
    throw err;
  }
}

async function guestPoll<D>(
  redis: Redis, prefix: string, me: PeerInfo, o: JoinOptions<D>, deadline: number, ttl: number,
  onJoin: (generation: string) => void,
): Promise<Roster<D>> {
  let joined: string | null = null;
  let note = 'rank 0 has not started the rendezvous';
  for (let delay = 5; Date.now() < deadline; delay = Math.min(delay * 1.5, 100)) {
    // Once joined, keep reading that generation even if `gen` expires.
    const gen: string | null = (await redis.get(`${prefix}gen`)) ?? joined;
    if (gen !== null) {
      if (gen !== joined) {
        if (joined !== null) await redis.del(`${prefix}${joined}:join:${o.rank}`);
        await redis.set(`${prefix}${gen}:join:${o.rank}`, JSON.stringify(me), 'PX', ttl);
        joined = gen;
        onJoin(gen);
        note = `joined generation ${gen}; rank 0 has not published the roster`;
      }
      const raw = await redis.get(`${prefix}${gen}:roster`);
      if (raw !== null) {
        const roster = JSON.parse(raw) as Roster<D>;
        if (roster.error && roster.peers.length === 0 && roster.worldSize !== o.worldSize) {
          throw new CollectiveError('MISMATCH', roster.error, 0);
        }
        if (roster.peers[o.rank]?.nonce === me.nonce) {
          if (roster.error) throw new CollectiveError('MISMATCH', roster.error, 0);
          return roster;
        }
        if (roster.error) throw new CollectiveError('MISMATCH', roster.error, 0);
        // A roster without our nonce is a leftover of an earlier run (or a
        // world-size mismatch); wait for the current rank 0 to take over.
        note = `the roster of generation ${gen} does not list this rank's join ` +
          `(stale keys of an earlier run, a duplicate rank, or worldSize ${roster.worldSize} vs ${o.worldSize})`;
      }
    }
    await sleep(delay);
  }
  throw new CollectiveError(
    'RENDEZVOUS',
    `rendezvous timed out after ${o.timeoutMs} ms: rank ${o.rank} of ${o.worldSize} is waiting for rank 0 (${note})`,
    0,
  );
}

/** Polls until all keys exist; the error names the ranks that never came. */
async function waitForKeys(
  redis: Redis, keys: string[], deadline: number, what: string,
  check?: (vals: (string | null)[]) => string | undefined,
  signal?: AbortSignal,
): Promise<string[]> {
  const start = Date.now();
  for (let delay = 5; ; delay = Math.min(delay * 1.5, 100)) {
    if (signal?.aborted) throw new CollectiveError('ABORTED', `init aborted: ${String(signal.reason ?? 'signal')}`);
    const vals = await redis.mget(...keys);
    const bad = check?.(vals);
    if (bad) throw new CollectiveError('MISMATCH', bad);
    if (vals.every((v) => v !== null)) return vals as string[];
    if (Date.now() >= deadline) {
      const missing = vals.flatMap((v, r) => (v === null ? [r] : []));
      throw new CollectiveError(
        'RENDEZVOUS',
        `rendezvous (${what}) timed out after ${Date.now() - start} ms waiting for rank(s) ${missing.join(', ')}`,
        missing[0],
      );
    }
    await sleep(delay);
  }
}

export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { GradpoolClient } from '../../coordinator/gradpool-client.ts';
import { redisOptions } from '../../protocol/redis.ts';
import { liveWorkers } from '../../protocol/worker-registry.ts';

const BIN = new URL('../../bin/gradpool.js', import.meta.url).pathname;
export const REDIS_URL = process.env.GRADPOOL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A real cluster on this machine: the coordinator and workers as separate
 * processes (as pm2 runs them), on a queue prefix of their own so tests never
 * see another deployment's jobs, against the real local Redis.
 */
export interface Cluster {
  prefix: string;
  client: GradpoolClient;
  redis: Redis;
  addWorker(env?: Record<string, string>): ChildProcess;
  /** Worker processes, in start order. */
  workers: ChildProcess[];
  /** The coordinator process (to kill it in a test). */
  coordinator: ChildProcess;
  startCoordinator(): ChildProcess;
  stop(): Promise<void>;
}

export async function startCluster(o: { workers: number; env?: Record<string, string> }): Promise<Cluster> {
  const prefix = `gptest-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const env = { ...process.env, GRADPOOL_REDIS_URL: REDIS_URL, GRADPOOL_PREFIX: prefix, ...o.env };
  const procs: ChildProcess[] = [];
  const start = (args: string[], extra: Record<string, string> = {}) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...env, ...extra }, stdio: ['ignore', 'ignore', process.env.GRADPOOL_TEST_VERBOSE ? 'inherit' : 'ignore'] });
    procs.push(p);
    return p;
  };
  let coordinator = start(['coordinator']);
  const workers: ChildProcess[] = [];
  for (let i = 0; i < o.workers; i++) workers.push(start(['worker']));
  const redis = new Redis({ ...redisOptions(REDIS_URL), maxRetriesPerRequest: null });
  const client = new GradpoolClient({ redisUrl: REDIS_URL, prefix });
  // Wait until the workers have registered, with their rank processes warm (unless turned off).
  const warm = (env as Record<string, string | undefined>).GRADPOOL_WARM_RANK !== '0';
  for (let i = 0; ; i++) {
    const ready = (await liveWorkers(redis, prefix)).filter((w) => !warm || w.warm);
    if (ready.length >= o.workers) break;
    if (i === 600) {
      for (const p of procs) p.kill('SIGKILL');
      redis.disconnect();
      await client.close();
      throw new Error(`startCluster: ${ready.length} of ${o.workers} worker(s) registered${warm ? ' with a warm rank process' : ''} within 60 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    prefix,
    client,
    redis,
    workers,
    addWorker: (extra = {}) => {
      const w = start(['worker'], extra);
      workers.push(w);
      return w;
    },
    get coordinator() {
      return coordinator;
    },
    startCoordinator() {
      coordinator = start(['coordinator']);
      return coordinator;
    },
    async stop() {
      for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
      await Promise.all(
        procs.map((p) =>
          p.exitCode !== null || p.signalCode !== null
            ? null
            : new Promise((r) => {
                const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
                p.once('exit', () => r(clearTimeout(t)));
              }),
        ),
      );
      await client.close();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    },
  };
}

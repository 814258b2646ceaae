/**
 * Where the service's state lives: one Redis (BullMQ queues, rendezvous,
 * worker registry, cancel flags), with every key under one prefix so several
 * deployments or test runs can share a Redis without seeing each other.
 *   GRADPOOL_REDIS_URL  default redis://127.0.0.1:6379
 *   GRADPOOL_PREFIX     default "gradpool"
 */
export interface ServiceConfig {
  redisUrl: string;
  prefix: string;
}

export function serviceConfigFromEnv(over: Partial<ServiceConfig> = {}): ServiceConfig {
  return {
    redisUrl: over.redisUrl ?? process.env.GRADPOOL_REDIS_URL ?? 'redis://127.0.0.1:6379',
    prefix: over.prefix ?? process.env.GRADPOOL_PREFIX ?? 'gradpool',
  };
}

/** ioredis/BullMQ connection options from a redis:// URL. */
export function redisOptions(url: string): { host: string; port: number; db: number; username?: string; password?: string } {
  const u = new URL(url);
  if (u.protocol !== 'redis:') throw new Error(`GRADPOOL_REDIS_URL ${url}: only redis:// URLs are supported`);
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 6379),
    db: Number(u.pathname.slice(1) || 0),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

export const RANKS_QUEUE = 'gradpool-ranks';

/** Plain Redis keys next to the queues. */
export const serviceKeys = (prefix: string) => ({
  worker: (id: string) => `${prefix}:worker:${id}`,
  workerPattern: `${prefix}:worker:*`,
  cancel: (runId: string) => `${prefix}:cancel:${runId}`,
  status: (runId: string) => `${prefix}:status:${runId}`,
  executions: (rankJobId: string) => `${prefix}:exec:${rankJobId}`,
  attempt: (runId: string) => `${prefix}:attempt:${runId}`,
});

import { Redis } from 'ioredis';

/** Where a Redis is, from a redis:// URL: what ioredis and BullMQ take as connection options. */
export interface RedisAddress {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
}

/** ioredis connection options from a redis:// URL. */
export function redisOptions(url: string): RedisAddress {
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

/**
 * The connection every long-lived service client uses (BullMQ's Queue, Worker,
 * QueueEvents and our own clients): commands wait for a reconnect instead of
 * failing after a few retries, which BullMQ requires for its blocking calls.
 */
export function queueConnection(url: string): RedisAddress & { maxRetriesPerRequest: null } {
  return { ...redisOptions(url), maxRetriesPerRequest: null };
}

interface ErrorSource {
  on(event: 'error', listener: (e: Error) => void): unknown;
}

/**
 * Logs a client's errors, one line per distinct message per minute. Without a
 * listener ioredis prints "Unhandled error event" with a stack trace on every
 * reconnect attempt of an outage; BullMQ's classes re-emit their clients'.
 */
export function logRedisErrors(source: ErrorSource, label: string, log: (line: string) => void): void {
  const last = new Map<string, number>();
  source.on('error', (e) => {
    const now = Date.now();
    if (now - (last.get(e.message) ?? -Infinity) < 60_000) return;
    last.set(e.message, now);
    log(`${label}: redis: ${e.message}`);
  });
}

/** A service Redis client with its errors logged (see logRedisErrors). */
export function connectRedis(url: string, label: string, log: (line: string) => void): Redis {
  const redis = new Redis(queueConnection(url));
  logRedisErrors(redis, label, log);
  return redis;
}

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

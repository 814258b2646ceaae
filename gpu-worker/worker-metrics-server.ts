import type { Redis } from 'ioredis';
import { metricsAddressFromEnv, startMetricsServer, type MetricsServer } from '../common/metrics-server.ts';
import { RankMetrics } from './rank-metrics.ts';

/**
 * A worker's /metrics and /healthz (common/metrics-server.ts). Workers on one
 * host need distinct ports: GRADPOOL_METRICS_PORT when set (ecosystem.config.js
 * sets 9465 + i for worker i), else 9465 + GRADPOOL_WORKER_INDEX (default 0);
 * 0 = no server. A port in use leaves this worker without one (a log line).
 */
export interface WorkerMetrics {
  recorder: RankMetrics;
  server: MetricsServer | null;
  close(): Promise<void>;
}

export const WORKER_METRICS_BASE_PORT = 9465;

export async function startWorkerMetrics(redis: Redis, log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<WorkerMetrics> {
  const recorder = new RankMetrics(env);
  const index = Number(env.GRADPOOL_WORKER_INDEX ?? 0);
  const address = metricsAddressFromEnv(WORKER_METRICS_BASE_PORT + (Number.isInteger(index) && index >= 0 ? index : 0), env);
  const server = address
    ? await startMetricsServer({
        address,
        registry: recorder.registry,
        token: env.GRADPOOL_DASHBOARD_TOKEN || null,
        // Alive while this process answers; Redis' state is the detail (the k8s liveness probe is worker-alive.mjs).
        health: async () => ({ ok: true, detail: `redis ${redis.status}` }),
        log,
      })
    : null;
  return { recorder, server, close: async () => void (await server?.close()) };
}

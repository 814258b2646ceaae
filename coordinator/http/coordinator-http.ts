import { metricsAddressFromEnv, startMetricsServer, type MetricsServer } from '../../common/metrics-server.ts';
import { connectRedis } from '../../protocol/redis.ts';
import type { ServiceConfig } from '../../protocol/service-config.ts';
import { GradpoolClient } from '../gradpool-client.ts';
import { CoordinatorMetrics } from './coordinator-metrics.ts';
import { dashboardRoutes } from './dashboard-routes.ts';
import { PoolView } from './pool-view.ts';
import { QueueSet } from './queue-set.ts';

/**
 * The coordinator's HTTP side, attached by one call in Coordinator.start():
 * /metrics, /healthz and the dashboard on GRADPOOL_METRICS_PORT (default
 * 9464; 0 = none), bound to GRADPOOL_METRICS_HOST (default 127.0.0.1), behind
 * GRADPOOL_DASHBOARD_TOKEN when set. It reads the pool from Redis with its
 * own connections (PoolView) and knows nothing of the coordinator's internals,
 * so any scheduling inside the coordinator can change without touching it.
 */
export const COORDINATOR_METRICS_PORT = 9464;

export interface CoordinatorHttp {
  server: MetricsServer | null;
  close(): Promise<void>;
}

export async function startCoordinatorHttp(config: ServiceConfig, log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<CoordinatorHttp> {
  const address = metricsAddressFromEnv(COORDINATOR_METRICS_PORT, env);
  if (!address) return { server: null, close: async () => {} };
  const token = env.GRADPOOL_DASHBOARD_TOKEN || null;
  if (!token && !['127.0.0.1', 'localhost', '::1'].includes(address.host)) {
    log(`dashboard: listening on ${address.host} without GRADPOOL_DASHBOARD_TOKEN: whoever reaches port ${address.port} sees every run and can cancel it`);
  }
  const redis = connectRedis(config.redisUrl, 'dashboard', log);
  const queues = new QueueSet(config, redis, log);
  await queues.refresh().catch(() => {});
  const client = new GradpoolClient(config, log);
  const view = new PoolView(redis, config.prefix, queues);
  const metrics = new CoordinatorMetrics(view, queues, config.prefix);
  const server = await startMetricsServer({
    address,
    registry: metrics.registry,
    extraMetrics: () => metrics.queueMetrics(),
    health: async () => {
      const pong = await Promise.race([redis.ping(), new Promise<string>((r) => setTimeout(() => r('timeout'), 2000))]);
      return pong === 'PONG' ? { ok: true, detail: 'redis answers' } : { ok: false, detail: `redis: ${pong === 'timeout' ? 'no answer in 2 s' : pong}` };
    },
    handler: dashboardRoutes({ view, client, queues }),
    token,
    log,
  });
  return {
    server,
    close: async () => {
      await server?.close();
      await client.close();
      await queues.close();
      redis.disconnect();
    },
  };
}

import type { Redis } from 'ioredis';
import { serviceKeys } from './keys.ts';

/** A live worker as it registers itself (gpu-worker/rank-worker.ts). */
export interface WorkerEntry {
  id: string;
  host: string;
  pid: number;
  gpu: number | null;
  /** "run#rank" while serving a rank. */
  busy: string | null;
  /** Leaving (SIGTERM): takes no new rank; its rank pauses at the next optimizer step. */
  draining?: boolean;
  /** A rank process is started with its engines warmed (rank-worker.ts): a rank placed here starts without their start-up. */
  warm?: boolean;
  at: number;
}

/** How often workers refresh their entry, and how long it lives without a refresh: a worker is lost within WORKER_TTL_MS. */
export const HEARTBEAT_MS = Number(process.env.GRADPOOL_HEARTBEAT_MS ?? 1000);
export const WORKER_TTL_MS = Math.max(3 * HEARTBEAT_MS, Number(process.env.GRADPOOL_WORKER_TTL_MS ?? 5000));

/** Workers whose registry key has not expired. */
export async function liveWorkers(redis: Redis, prefix: string): Promise<WorkerEntry[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', serviceKeys(prefix).workerPattern, 'COUNT', 200);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  if (keys.length === 0) return [];
  const values = await redis.mget(keys);
  return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as WorkerEntry);
}

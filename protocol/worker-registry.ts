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
  at: number;
}

/** Workers whose registry key has not expired (they refresh it every 3 s, 15 s TTL). */
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

import type { Redis } from 'ioredis';
import { serviceKeys } from '../../common/service-config.ts';

/** Lifecycle of a run, as the client reports it (mirrors gradpool.v1.JobState). */
export type RunState =
  | 'QUEUED'
  | 'PREPARING'
  | 'WAITING_FOR_WORKERS'
  | 'RUNNING'
  | 'COMPLETED'
  | 'FAILED'
  | 'CANCELLED'
  | 'PAUSED';

export interface RunStatus {
  id: string;
  state: RunState;
  message: string;
  /** The latest step report of rank 0, with the run's world size. */
  progress: Record<string, unknown> | null;
  updatedAtMs: number;
}

const TTL_S = 30 * 24 * 3600;

/** The run's status lives in a Redis hash next to its BullMQ job (which keeps the result). */
export async function setRunStatus(redis: Redis, prefix: string, id: string, state: RunState, message = '', progress?: unknown): Promise<void> {
  const key = serviceKeys(prefix).status(id);
  const fields: Record<string, string> = { state, message, updatedAtMs: String(Date.now()) };
  if (progress !== undefined) fields.progress = JSON.stringify(progress);
  await redis.multi().hset(key, fields).expire(key, TTL_S).exec();
}

export async function getRunStatus(redis: Redis, prefix: string, id: string): Promise<RunStatus | null> {
  const h = await redis.hgetall(serviceKeys(prefix).status(id));
  if (!h.state) return null;
  return {
    id,
    state: h.state as RunState,
    message: h.message ?? '',
    progress: h.progress ? (JSON.parse(h.progress) as Record<string, unknown>) : null,
    updatedAtMs: Number(h.updatedAtMs ?? 0),
  };
}

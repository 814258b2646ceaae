import type { Redis } from 'ioredis';
import { serviceKeys } from './keys.ts';
import { fromProgressJson, type JobStateName, type JobStatusJson } from './messages.ts';

/** Lifecycle of a run, as gradpool.v1.JobState names it. */
export type RunState = Exclude<JobStateName, 'JOB_STATE_UNSPECIFIED'>;

const TTL_S = 30 * 24 * 3600;
const FINAL: RunState[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

/** Fields of the status hash besides state and message (proto/README.md lists them all). */
export interface RunStatusFields {
  progress?: unknown;
  /** Place in the queue (1 = next) and why it waits; 0 and "" once it runs. */
  queue_position?: number;
  queue_reason?: string;
  attempt?: number;
  world_size?: number;
}

/**
 * The run's status lives in one Redis hash, `<prefix>:status:<id>`, next to
 * its BullMQ job (which keeps the result): state, message, latest progress,
 * queue place, attempt and the times that matter. The coordinator is its only
 * writer after submission; clients and foreign services read it.
 */
export async function setRunStatus(redis: Redis, prefix: string, id: string, state: RunState, message = '', extra: RunStatusFields = {}): Promise<void> {
  const keys = serviceKeys(prefix);
  const key = keys.status(id);
  const now = String(Date.now());
  const fields: Record<string, string> = { state, message, updated_at_ms: now };
  if (extra.progress !== undefined && extra.progress !== null) fields.progress = JSON.stringify(extra.progress);
  if (state !== 'QUEUED' && state !== 'PAUSED') Object.assign(fields, { queue_position: '0', queue_reason: '' });
  for (const k of ['queue_position', 'queue_reason', 'attempt', 'world_size'] as const) if (extra[k] !== undefined) fields[k] = String(extra[k]);
  const tx = redis.multi().hset(key, fields).hsetnx(key, 'created_at_ms', now);
  if (state === 'RUNNING') tx.hsetnx(key, 'started_at_ms', now);
  if (FINAL.includes(state)) tx.hset(key, 'finished_at_ms', now);
  await tx.expire(key, TTL_S).publish(keys.statusChannel, id).exec();
}

/**
 * Counts a run refused before training under its reason (`invalid_job`, `plan`, `run_folder_exists`,
 * `preparation_failed`), in one hash every coordinator shares, so the count survives restarts.
 */
export async function countRejection(redis: Redis, prefix: string, reason: string): Promise<void> {
  await redis.hincrby(serviceKeys(prefix).intakeRejections, reason, 1);
}

/** The status as gradpool.v1.JobStatus (JSON), or null if the run is unknown. */
export async function getRunStatus(redis: Redis, prefix: string, id: string): Promise<JobStatusJson | null> {
  const h = await redis.hgetall(serviceKeys(prefix).status(id));
  if (!h.state) return null;
  return {
    id,
    state: h.state as RunState,
    message: h.message ?? '',
    ...(h.progress ? { progress: fromProgressJson(JSON.parse(h.progress)) } : {}),
    updated_at_ms: Number(h.updated_at_ms ?? 0),
    created_at_ms: Number(h.created_at_ms ?? 0),
    started_at_ms: Number(h.started_at_ms ?? 0),
    finished_at_ms: Number(h.finished_at_ms ?? 0),
    queue_position: Number(h.queue_position ?? 0),
    queue_reason: h.queue_reason ?? '',
    attempt: Number(h.attempt ?? 0),
    world_size: Number(h.world_size ?? 0),
  };
}

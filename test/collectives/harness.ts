/** Spawns one worker process per rank and collects what each reports. */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { keyPrefix, shmBaseName } from '../../native/index.ts';
import type { Plan, Report, Step } from './fixtures/worker.ts';

export const REDIS_URL = process.env.GRADPOOL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const workerPath = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

export interface RankResult {
  rank: number;
  reports: Report[];
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

export interface WorldRun {
  results: RankResult[];
  /** True if the watchdog had to kill hung workers. */
  hung: boolean;
}

export function freshRunId(label: string): string {
  return `t-${label}-${randomBytes(4).toString('hex')}`;
}

/** A new seed for every run, so each test run exercises fresh data. */
export const seed = () => randomInt(1, 2 ** 31);

export function spawnWorld(
  plans: Plan[],
  opts: { watchdogMs: number; onReport?: (rank: number, r: Report, children: ChildProcess[]) => void },
): Promise<WorldRun> {
  const results: RankResult[] = plans.map((p) => ({ rank: p.rank, reports: [], exitCode: null, signal: null }));
  const children = plans.map((p) =>
    fork(workerPath, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, GRADPOOL_TEST_PLAN: JSON.stringify(p) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  let hung = false;
  return new Promise((resolve) => {
    let left = children.length;
    const watchdog = setTimeout(() => {
      hung = true;
      for (const c of children) c.kill('SIGKILL');
    }, opts.watchdogMs);
    children.forEach((c, i) => {
      c.on('message', (m) => {
        results[i]!.reports.push(m as Report);
        opts.onReport?.(i, m as Report, children);
      });
      c.on('exit', (code, signal) => {
        results[i]!.exitCode = code;
        results[i]!.signal = signal;
        if (--left === 0) {
          clearTimeout(watchdog);
          resolve({ results, hung });
        }
      });
    });
  });
}

/** Same steps on every rank of one communicator. */
export function uniformPlans(
  world: number,
  comm: Omit<Plan['comms'][number], 'steps' | 'worldSize' | 'rendezvous'> & { steps: Step[] },
): Plan[] {
  return Array.from({ length: world }, (_, rank) => ({
    rank,
    comms: [{ ...comm, worldSize: world, rendezvous: { redisUrl: REDIS_URL } }],
  }));
}

/** Keys of this run still in Redis. */
export async function leftoverKeys(runId: string, tag?: string): Promise<string[]> {
  const redis = new Redis(REDIS_URL);
  try {
    return await redis.keys(`${keyPrefix(runId, tag).replace(/[*?[\]]/g, '\\$&')}*`);
  } finally {
    redis.disconnect();
  }
}

/**
 * Keys of a failed rendezvous expire a few seconds after the failure (so
 * waiting ranks can still read the error); waits for that.
 */
export async function keysGoneWithin(runId: string, ms: number): Promise<string[]> {
  const end = Date.now() + ms;
  for (;;) {
    const keys = await leftoverKeys(runId);
    if (keys.length === 0 || Date.now() > end) return keys;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** /dev/shm entries of this run (any generation). */
export function leftoverSegments(runId: string, tag = 'main'): string[] {
  const base = shmBaseName(runId, tag, '').slice(1); // "gradpool-<hash>-"
  return readdirSync('/dev/shm').filter((f) => f.startsWith(base));
}

export function stepFailures(run: WorldRun): string[] {
  const out: string[] = [];
  for (const r of run.results) {
    for (const m of r.reports) {
      if (m.type === 'step' && !m.ok) out.push(`rank ${r.rank} comm ${m.comm} step ${m.index}: ${m.detail}`);
      if (m.type === 'error') out.push(`rank ${r.rank} comm ${m.comm} step ${m.index}: ${m.code} ${m.message}`);
    }
    if (!r.reports.some((m) => m.type === 'done')) out.push(`rank ${r.rank} did not finish (exit ${r.exitCode ?? r.signal})`);
  }
  if (run.hung) out.push('watchdog killed hung workers');
  return out;
}

export function stepCount(run: WorldRun): number {
  return run.results.reduce((n, r) => n + r.reports.filter((m) => m.type === 'step' && m.ok).length, 0);
}

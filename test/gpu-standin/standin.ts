/**
 * The CPU stand-ins for libcudart and libnccl (native/standin/), built on
 * first use, and a world of rank processes that load them through the
 * product's own GRADPOOL_CUDART_LIB / GRADPOOL_NCCL_LIB path.
 */
import { spawnSync, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Report } from './fixtures/rank.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
export const STANDIN_DIR = join(root, 'native/standin/build');
export const CUDART = join(STANDIN_DIR, 'libcudart.so.13');
export const NCCL = join(STANDIN_DIR, 'libnccl.so.2');
export const HARNESS = join(STANDIN_DIR, 'abi_harness.node');
export const REDIS_URL = process.env.GRADPOOL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let built = false;
/** Builds the stand-ins (a no-op when up to date); throws with the compiler's output. */
export function ensureStandin(): void {
  if (built) return;
  const r = spawnSync(process.execPath, [join(root, 'native/standin/build.mjs')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building the stand-ins failed:\n${r.stdout}\n${r.stderr}`);
  built = true;
}

/** One stand-in event (GP_STANDIN_LOG): contexts, NCCL life cycle, violations. */
export interface StandinEvent {
  pid: number;
  ev: string;
  rank?: number;
  device?: number;
  busId?: string;
  what?: string;
  why?: string;
}

export interface World {
  reports: Report[][];
  exits: Array<number | null>;
  events: StandinEvent[];
  /** True when the watchdog had to kill hung ranks. */
  hung: boolean;
}

export interface WorldOptions {
  scenario: string;
  args?: Record<string, unknown>;
  world?: number;
  /** Environment for every rank (merged over the stand-in defaults). */
  env?: Record<string, string | undefined>;
  /** Per-rank environment on top. */
  rankEnv?: Array<Record<string, string | undefined>>;
  watchdogMs?: number;
}

const fixture = fileURLToPath(new URL('./fixtures/rank.ts', import.meta.url));

/** Runs `scenario` in one process per rank; resolves when all have exited. */
export function runWorld(o: WorldOptions): Promise<World> {
  ensureStandin();
  const world = o.world ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'gp-standin-'));
  const log = join(dir, 'standin.jsonl');
  const runId = `t-standin-${o.scenario}-${randomBytes(4).toString('hex')}`;
  const reports: Report[][] = Array.from({ length: world }, () => []);
  const exits: Array<number | null> = Array(world).fill(null);
  const base: Record<string, string | undefined> = {
    ...process.env,
    GRADPOOL_CUDART_LIB: CUDART,
    GRADPOOL_NCCL_LIB: NCCL,
    GP_STANDIN_LOG: log,
    GP_STANDIN_GPUS: '0000:81:00.0,0000:01:00.0',
    CUDA_DEVICE_ORDER: undefined,
    CUDA_VISIBLE_DEVICES: undefined,
    GP_TEST_SCENARIO: o.scenario,
    GP_TEST_ARGS: JSON.stringify(o.args ?? {}),
    GP_TEST_RUN: runId,
    GP_TEST_WORLD: String(world),
    GP_TEST_REDIS: REDIS_URL,
  };
  const children = Array.from({ length: world }, (_, rank) => {
    const env: Record<string, string | undefined> = { ...base, ...o.env, ...o.rankEnv?.[rank], GP_TEST_RANK: String(rank) };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    return fork(fixture, [], { execArgv: ['--import', 'tsx'], env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  });
  let hung = false;
  return new Promise((resolve) => {
    let left = world;
    const watchdog = setTimeout(() => {
      hung = true;
      for (const c of children) c.kill('SIGKILL');
    }, o.watchdogMs ?? 30_000);
    children.forEach((c, rank) => {
      c.on('message', (m) => reports[rank]!.push(m as Report));
      c.on('exit', (code) => {
        exits[rank] = code;
        if (--left > 0) return;
        clearTimeout(watchdog);
        const events = existsSync(log)
          ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as StandinEvent)
          : [];
        rmSync(dir, { recursive: true, force: true });
        resolve({ reports, exits, events, hung });
      });
    });
  });
}

/** The report of `type` from rank `rank` (throws, listing what came, when absent). */
export function report<T extends Report['type']>(w: World, rank: number, type: T): Extract<Report, { type: T }> {
  const r = w.reports[rank]!.find((m) => m.type === type);
  if (!r) throw new Error(`rank ${rank} sent no '${type}' report; it sent ${JSON.stringify(w.reports[rank])} (exit ${w.exits[rank]})`);
  return r as Extract<Report, { type: T }>;
}

/** The stand-in's events of one rank's process, by event name. */
export function eventsOf(w: World, rank: number, ev?: string): StandinEvent[] {
  const pid = report(w, rank, 'hello').pid;
  return w.events.filter((e) => e.pid === pid && (ev === undefined || e.ev === ev));
}

/** Misuses the stand-in caught (freed communicators, wrong-device frees, ...). */
export function violations(w: World): string[] {
  return w.events.filter((e) => e.ev === 'violation').map((e) => e.what ?? '?');
}

/** NCCL stand-in segments left in /dev/shm by a run. */
export function leftoverSegments(): string[] {
  return readdirSync('/dev/shm').filter((f) => f.startsWith('gpsi-nccl-'));
}

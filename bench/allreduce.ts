/**
 * All-reduce benchmark: 2 ranks on this machine, each backend, 1M/16M/110M
 * floats, median of 7 timed runs after 2 warm-ups. Reports bus bandwidth
 * (2(n-1)/n * bytes / time) next to memcpy of the same bytes, the physical
 * reference for moving that much memory on this machine.
 *
 *   npm run bench:allreduce            (needs Redis at GRADPOOL_BENCH_REDIS_URL or 127.0.0.1:6379)
 *
 * The script re-runs itself as the worker processes (--worker).
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Communicator, loadNative, type BackendName } from '../native/index.ts';

const REDIS_URL = process.env.GRADPOOL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SIZES = [1_000_000, 16_000_000, 110_000_000];
const WARMUP = 2;
const REPS = 7;
const WORLD = 2;

interface Config {
  label: string;
  backend: BackendName;
  zeroCopy: boolean;
}

interface WorkerArgs extends Config {
  rank: number;
  runId: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function worker(a: WorkerArgs): Promise<void> {
  const comm = await Communicator.init({
    backend: a.backend, rank: a.rank, worldSize: WORLD, runId: a.runId, timeoutMs: 120_000,
    rendezvous: { redisUrl: REDIS_URL },
  });
  const out: Record<number, number[]> = {};
  for (const n of SIZES) {
    const buf = a.zeroCopy ? comm.sharedBuffer(n) : new Float32Array(n);
    buf.fill(1 + a.rank);
    const times: number[] = [];
    for (let i = 0; i < WARMUP + REPS; i++) {
      await comm.barrier();
      const t0 = process.hrtime.bigint();
      await comm.allReduce(buf, 'sum');
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      if (i >= WARMUP) times.push(dt);
    }
    out[n] = times;
  }
  await comm.destroy();
  process.send!(out);
}

function runConfig(c: Config): Promise<Record<number, number[]>[]> {
  const runId = `bench-${randomBytes(4).toString('hex')}`;
  const self = fileURLToPath(import.meta.url);
  return Promise.all(
    Array.from({ length: WORLD }, (_, rank) =>
      new Promise<Record<number, number[]>>((resolve, reject) => {
        const args: WorkerArgs = { ...c, rank, runId };
        const child = fork(self, ['--worker', JSON.stringify(args)], { execArgv: ['--import', 'tsx'] });
        let result: Record<number, number[]> | undefined;
        child.on('message', (m) => (result = m as Record<number, number[]>));
        child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`${c.label} rank ${rank} exited with ${code}`))));
      }),
    ),
  );
}

async function main(): Promise<void> {
  const addon = loadNative();
  const configs: Config[] = [
    { label: 'shm (zero-copy)', backend: 'shm', zeroCopy: true },
    { label: 'shm (copy)', backend: 'shm', zeroCopy: false },
    ...(addon.features.gloo ? [{ label: 'gloo', backend: 'gloo' as const, zeroCopy: false }] : []),
  ];
  const memcpyGBs = new Map<number, number>();
  console.log(`all-reduce, ${WORLD} ranks on one machine; median of ${REPS} after ${WARMUP} warm-ups`);
  for (const n of SIZES) {
    const bytes = n * 4;
    const gbs = bytes / median(addon.memcpyTimes(bytes, REPS)) / 1e9;
    memcpyGBs.set(n, gbs);
    console.log(`memcpy ${fmtN(n)} floats (${(bytes / 2 ** 20).toFixed(0)} MiB): ${gbs.toFixed(2)} GB/s`);
  }
  let shmZc110 = NaN;
  for (const c of configs) {
    const ranks = await runConfig(c);
    for (const n of SIZES) {
      // A collective ends when the slowest rank is done: take the per-rep max.
      const perRep = ranks[0]![n]!.map((_, i) => Math.max(...ranks.map((r) => r[n]![i]!)));
      const t = median(perRep);
      const bus = ((2 * (WORLD - 1)) / WORLD) * n * 4 / t / 1e9;
      const ratio = bus / memcpyGBs.get(n)!;
      console.log(`${c.label.padEnd(16)} ${fmtN(n).padStart(5)}: ${(t * 1e3).toFixed(2).padStart(8)} ms  bus ${bus.toFixed(2).padStart(6)} GB/s  ${ratio.toFixed(2)} of memcpy`);
      if (c.backend === 'shm' && c.zeroCopy && n === 110_000_000) shmZc110 = ratio;
    }
  }
  console.log(`allreduce shm 2x110M: ${shmZc110.toFixed(2)} of memcpy`);
}

function fmtN(n: number): string {
  return n >= 1e6 ? `${Math.round(n / 1e6)}M` : String(n);
}

const i = process.argv.indexOf('--worker');
if (i >= 0) await worker(JSON.parse(process.argv[i + 1]!) as WorkerArgs);
else await main();

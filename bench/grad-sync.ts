// bench:engines' gradient-sync section: 2 ranks over shm, each measuring the same train
// micro-batch with the host all-reduce after backward and with the torch engine's bucketed
// all-reduce overlapped with backward (native/torch/src/grad_buckets.cc), in one run.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export interface GradSyncFigures {
  numParams: number;
  buckets: number;
  /** Per step, mean over iterations and ranks. */
  hostStepMs: number;
  hostCommMs: number;
  bucketedStepMs: number;
  commMs: number;
  hiddenMs: number;
}

export async function benchGradSync(o: { iters: number; B: number; S: number; config: Record<string, number>; bucketBytes: number }): Promise<GradSyncFigures> {
  const world = 2;
  const runId = `bench-gradsync-${randomBytes(4).toString('hex')}`;
  const redisUrl = process.env.GRADPOOL_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const script = fileURLToPath(new URL('./grad-sync-rank.ts', import.meta.url));
  const results = await Promise.all(Array.from({ length: world }, (_, rank) => new Promise<Record<string, number>>((resolve, reject) => {
    const env = { ...process.env, CUDA_VISIBLE_DEVICES: '', GP_BENCH_SYNC: JSON.stringify({ rank, world, runId, redisUrl, ...o }) };
    const child = fork(script, [], { execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let got: Record<string, number> | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('message', (m) => (got = m as Record<string, number>));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (got) resolve(got);
      else reject(new Error(`gradient-sync rank ${rank} exited (${signal ?? code}) without a result`));
    });
  })));
  const mean = (k: string) => results.reduce((a, r) => a + r[k]!, 0) / results.length / o.iters;
  return {
    numParams: results[0]!.numParams!,
    buckets: results[0]!.buckets!,
    hostStepMs: mean('host'),
    hostCommMs: mean('hostComm'),
    bucketedStepMs: mean('bucketed'),
    commMs: mean('comm'),
    hiddenMs: mean('hidden'),
  };
}

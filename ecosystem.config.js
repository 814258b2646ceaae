// pm2 start ecosystem.config.js — the coordinator and one worker per GPU.
//
// Workers: GRADPOOL_WORKERS if set, else one per GPU that `nvidia-smi -L`
// lists (each pinned to its GPU through GRADPOOL_GPU → CUDA_VISIBLE_DEVICES),
// else 2 CPU workers. Redis and the key prefix come from GRADPOOL_REDIS_URL
// and GRADPOOL_PREFIX (defaults redis://127.0.0.1:6379 and "gradpool").
import { execFileSync } from 'node:child_process';

function gpuCount() {
  try {
    return execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter((l) => l.startsWith('GPU ')).length;
  } catch {
    return 0;
  }
}

const gpus = gpuCount();
const workers = Number(process.env.GRADPOOL_WORKERS || gpus || 2);
const shared = {
  script: 'bin/gradpool.js',
  interpreter: 'node',
  cwd: import.meta.dirname ?? new URL('.', import.meta.url).pathname,
  env: {
    GRADPOOL_REDIS_URL: process.env.GRADPOOL_REDIS_URL || 'redis://127.0.0.1:6379',
    GRADPOOL_PREFIX: process.env.GRADPOOL_PREFIX || 'gradpool',
    OMP_WAIT_POLICY: 'PASSIVE', // torch peers sharing cores must not spin
  },
  autorestart: true,
  // A crash loop backs off (100 ms doubling up to 15 s) instead of hammering Redis.
  exp_backoff_restart_delay: 100,
  merge_logs: false,
  time: true,
};

// pm2 reads `apps` (named export under "type": "module"); the default export serves other tools.
export const apps = [
    {
      ...shared,
      name: 'gradpool-coordinator',
      args: 'coordinator',
      out_file: 'logs/pm2/coordinator.out.log',
      error_file: 'logs/pm2/coordinator.err.log',
      kill_timeout: 15_000,
    },
    ...Array.from({ length: workers }, (_, i) => ({
      ...shared,
      name: `gradpool-worker-${i}`,
      args: 'worker',
      env: { ...shared.env, ...(i < gpus ? { GRADPOOL_GPU: String(i) } : {}) },
      out_file: `logs/pm2/worker-${i}.out.log`,
      error_file: `logs/pm2/worker-${i}.err.log`,
      // SIGTERM makes the rank finish its step and write last.pth; give it time before SIGKILL.
      kill_timeout: 120_000,
      max_memory_restart: process.env.GRADPOOL_WORKER_MAX_MEMORY || undefined,
    })),
];

export default { apps };

// pm2 start ecosystem.config.js — the coordinator and one worker per GPU.
//
//   npm ci && pm2 start ecosystem.config.js
//   pm2 logs | pm2 status | pm2 stop all (graceful: ranks checkpoint) | pm2 kill
//
// Workers: GRADPOOL_WORKERS if set, else one per GPU that `nvidia-smi -L`
// lists (worker i gets GRADPOOL_GPU=i, which the worker turns into
// CUDA_VISIBLE_DEVICES=i for its rank processes), else 2 CPU workers
// (GRADPOOL_GPU unset). With GRADPOOL_WORKERS above the GPU count, the extra
// workers are CPU workers (their rank processes see no GPU: CUDA_VISIBLE_DEVICES=""). Redis and the key prefix come from
// GRADPOOL_REDIS_URL and GRADPOOL_PREFIX (defaults redis://127.0.0.1:6379 and
// "gradpool"); GRADPOOL_PM2_LOG_DIR moves the log files (default logs/pm2).
//
// Module format: package.json says "type": "module", so this file is ESM.
// pm2 (6 and 7 alike) loads it with require(), which works for ESM without
// top-level await from Node 20.19 / 22.12 on (require(esm) on by default);
// pm2 then reads the named `apps` export. On an older Node 20 pm2 fails with
// ERR_REQUIRE_ESM: use Node >= 20.19. Keep this file free of top-level
// await, which require() cannot load.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));

/** GPUs `nvidia-smi -L` lists ("GPU 0: …"; MIG slices are indented sub-lines and not counted). 0 without a driver. */
function gpuCount() {
  try {
    return execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 })
      .split('\n')
      .filter((l) => l.startsWith('GPU ')).length;
  } catch {
    return 0; // no nvidia-smi, or no driver: CPU workers
  }
}

const gpus = gpuCount();
const requested = process.env.GRADPOOL_WORKERS;
if (requested !== undefined && requested !== '' && !/^\d+$/.test(requested)) {
  throw new Error(`ecosystem.config.js: GRADPOOL_WORKERS must be a whole number, got "${requested}"`);
}
const workers = requested ? Number(requested) : gpus || 2;
const logDir = process.env.GRADPOOL_PM2_LOG_DIR || 'logs/pm2';

const shared = {
  // bin/gradpool.js registers tsx itself, so plain node runs the TypeScript CLI.
  script: 'bin/gradpool.js',
  interpreter: 'node',
  // Fork mode, one process per app: the service scales by worker processes
  // (one per GPU), never by pm2's cluster mode (which would share one queue
  // consumer identity and one GPU between copies).
  exec_mode: 'fork',
  instances: 1,
  // Relative paths in the service (bin, logs, default runs/ and .cache/) are the repository's.
  cwd: root,
  env: {
    // Passed through explicitly so `pm2 start` from a shell with these set is
    // what the processes see, also after `pm2 resurrect` on boot.
    GRADPOOL_REDIS_URL: process.env.GRADPOOL_REDIS_URL || 'redis://127.0.0.1:6379',
    GRADPOOL_PREFIX: process.env.GRADPOOL_PREFIX || 'gradpool',
    // OpenMP runtimes (tfjs-node, a torch peer) sharing cores with other ranks must not spin.
    OMP_WAIT_POLICY: 'PASSIVE',
  },
  // Restart whatever exits: a lost Redis connection or a crash must not take a worker out of the pool.
  autorestart: true,
  // A crash loop backs off: 100 ms, growing ×1.5 per restart up to pm2's cap
  // of 15 s, reset after the process stays up 30 s; a down Redis is not hammered.
  exp_backoff_restart_delay: 100,
  // Logs per process: one out and one err file per app, named exactly as
  // out_file/error_file say (with merge_logs false pm2 appends "-<pm_id>",
  // which changes on every `pm2 delete`/`start`); timestamps on each line.
  merge_logs: true,
  time: true,
  // Signal the whole process tree (worker and its forked rank process): the
  // rank process treats SIGTERM as "finish this step and checkpoint" too.
  treekill: true,
};

// pm2 reads the named `apps` export (module namespace under require(esm)).
export const apps = [
  {
    ...shared,
    name: 'gradpool-coordinator',
    args: 'coordinator',
    out_file: join(logDir, 'coordinator.out.log'),
    error_file: join(logDir, 'coordinator.err.log'),
    // The coordinator holds no training state (runs live in Redis and the run
    // folders); stopping it only closes its queue consumers.
    kill_timeout: 15_000,
    // Tokenizing a corpus happens here; its memory is that of the token cache,
    // so a coordinator above this is leaking. pm2 measures this process only.
    max_memory_restart: process.env.GRADPOOL_COORDINATOR_MAX_MEMORY || '4G',
  },
  ...Array.from({ length: workers }, (_, i) => ({
    ...shared,
    name: `gradpool-worker-${i}`,
    args: 'worker',
    // Worker i serves /metrics on 9465 + i (GRADPOOL_METRICS_PORT from the shell is the
    // coordinator's; 0 turns every server off).
    env: {
      ...shared.env,
      GRADPOOL_WORKER_INDEX: String(i),
      GRADPOOL_METRICS_PORT: process.env.GRADPOOL_METRICS_PORT === '0' ? '0' : String(9465 + i),
      ...(i < gpus ? { GRADPOOL_GPU: String(i) } : {}),
    },
    out_file: join(logDir, `worker-${i}.out.log`),
    error_file: join(logDir, `worker-${i}.err.log`),
    // SIGTERM (pm2 stop/restart/reload) makes the rank finish its optimizer
    // step and write last.pth; the run resumes from there on a free worker.
    // pm2 sends SIGKILL after kill_timeout, so it must exceed the longest
    // step plus a checkpoint write (bert-base with AdamW moments: ~1.3 GB).
    kill_timeout: Number(process.env.GRADPOOL_WORKER_KILL_TIMEOUT_MS || 120_000),
    // pm2 measures the worker process itself (a queue/IPC relay, ~150 MB),
    // not its forked rank process, which holds the model; above this the
    // relay is leaking, and a restart is graceful (the rank checkpoints).
    max_memory_restart: process.env.GRADPOOL_WORKER_MAX_MEMORY || '1G',
  })),
];

export default { apps };

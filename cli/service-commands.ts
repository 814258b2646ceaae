import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { metricsAddressFromEnv } from '../common/metrics-server.ts';
import { formatSeconds } from '../common/progress.ts';
import { COORDINATOR_METRICS_PORT } from '../coordinator/http/coordinator-http.ts';
import { WORKER_METRICS_BASE_PORT } from '../gpu-worker/worker-metrics-server.ts';
import { serviceConfigFromEnv, type ServiceConfig } from '../protocol/service-config.ts';
import { GradpoolClient, type SubmitOptions } from '../coordinator/gradpool-client.ts';
import { Coordinator } from '../coordinator/coordinator.ts';
import type { RunOutcome } from '../coordinator/coordinator.ts';
import { RankWorker } from '../gpu-worker/rank-worker.ts';
import { evalBrief, outcomeLines } from './eval-lines.ts';
import { ensureRedis } from './redis-check.ts';

/** Runs until SIGINT/SIGTERM, then closes gracefully (a second signal exits at once). */
function untilSignal(close: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let closing = false;
    const on = (sig: string) => {
      if (closing) process.exit(130);
      closing = true;
      process.stderr.write(`${sig}: shutting down gracefully (again to exit now)\n`);
      close().then(
        () => resolve(0),
        (e: Error) => {
          process.stderr.write(`shutdown: ${e.message}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', () => on('SIGINT'));
    process.on('SIGTERM', () => on('SIGTERM'));
  });
}

export async function coordinatorCommand(): Promise<number> {
  const c = new Coordinator({ config: serviceConfigFromEnv() });
  await c.start();
  return untilSignal(() => c.close());
}

export async function workerCommand(gpu: number | null): Promise<number> {
  // --gpu N, else GRADPOOL_GPU (ecosystem.config.js sets it per worker on GPU nodes), else a CPU worker.
  const envGpu = process.env.GRADPOOL_GPU;
  const w = new RankWorker({ config: serviceConfigFromEnv(), gpu: gpu ?? (envGpu ? Number(envGpu) : null) });
  await w.start();
  return untilSignal(() => w.close());
}

/** Prints a run's events until it ends; returns its outcome. */
export async function follow(client: GradpoolClient, id: string, out: (l: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<RunOutcome> {
  let firstStepAt = 0;
  const submitted = Date.now();
  for await (const e of client.events(id)) {
    if (e.type === 'status') out(`[${id}] ${e.state}${e.message ? `: ${e.message}` : ''}`);
    else if (e.type === 'progress') {
      const p = e.progress;
      if (!firstStepAt) {
        firstStepAt = Date.now();
        out(`[${id}] first step ${((firstStepAt - submitted) / 1000).toFixed(1)} s after following began, ${p.world_size} rank(s)`);
      }
      if (p.step % 10 !== 0 && p.step !== p.max_steps && !p.eval && p.step !== 1) continue;
      out(
        `[${id}] stage ${p.stage} step ${p.step}/${p.max_steps} loss ${p.loss.toFixed(4)} ${Math.round(p.tokens_per_s)} tok/s ` +
          `eta ${formatSeconds(p.eta_s)}${p.eval ? ` ${evalBrief(p.eval)}` : ''}`,
      );
    } else if (e.type === 'completed') return e.result;
    else throw new Error(`run ${id} failed: ${e.reason}`);
  }
  throw new Error(`run ${id}: no end`);
}

export function printOutcome(r: RunOutcome): void {
  for (const line of outcomeLines(r.first_eval, r.last_eval)) console.log(line);
  console.log(`run folder: ${r.run_dir} (${r.stop_reason}; ${r.world_size} rank(s), ${r.steps} steps)`);
}

export async function submitCommand(path: string, o: SubmitOptions & { follow: boolean }): Promise<number> {
  const client = new GradpoolClient();
  try {
    const id = await client.submit(path, o);
    console.log(id);
    if (o.follow) printOutcome(await follow(client, id));
    return 0;
  } finally {
    await client.close();
  }
}

/**
 * `gradpool train <job> --workers N`: the service's real path on one machine:
 * a coordinator and N workers (child processes) on a private queue prefix,
 * the job submitted through the client and followed to the end.
 */
export async function localClusterTrain(path: string, workers: number, o: { engine?: string; name?: string }): Promise<number> {
  const redis = await ensureRedis(serviceConfigFromEnv().redisUrl);
  const config: ServiceConfig = { redisUrl: redis.url, prefix: `gradpool-local-${process.pid}` };
  const env = { ...process.env, GRADPOOL_REDIS_URL: config.redisUrl, GRADPOOL_PREFIX: config.prefix };
  const bin = new URL('../bin/gradpool.js', import.meta.url).pathname;
  // The processes' own logs (what pm2 would keep per process) go to files; this terminal follows the run.
  const logDir = join(process.cwd(), 'logs', `local-${process.pid}`);
  mkdirSync(logDir, { recursive: true });
  const start = (name: string, args: string[], extra: Record<string, string> = {}) =>
    spawn(process.execPath, [bin, ...args], { env: { ...env, ...extra }, stdio: ['ignore', openSync(join(logDir, `${name}.log`), 'a'), openSync(join(logDir, `${name}.log`), 'a')] });
  const children: ChildProcess[] = [start('coordinator', ['coordinator'])];
  // The coordinator serves on GRADPOOL_METRICS_PORT (9464), worker i on 9465 + i; none at all with 0.
  const web = metricsAddressFromEnv(COORDINATOR_METRICS_PORT, env);
  for (let i = 0; i < workers; i++) {
    children.push(start(`worker-${i}`, ['worker'], { GRADPOOL_WORKER_INDEX: String(i), GRADPOOL_METRICS_PORT: web ? String(WORKER_METRICS_BASE_PORT + i) : '0' }));
  }
  process.stderr.write(`coordinator and ${workers} worker(s) started; their logs: ${logDir}\n`);
  if (web) process.stderr.write(`dashboard: http://${web.host}:${web.port}/ (metrics: /metrics; workers' metrics on ports ${WORKER_METRICS_BASE_PORT}-${WORKER_METRICS_BASE_PORT + workers - 1})\n`);
  const client = new GradpoolClient(config);
  const stopAll = async () => {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r)))));
    redis.stop();
  };
  try {
    const { loadJobFile } = await import('../spec/validate-job.ts');
    const job = loadJobFile(path);
    if (o.engine) job.engine = o.engine;
    if (o.name) job.name = o.name;
    const id = await client.submit(job, { worldSize: workers });
    process.stderr.write(`submitted ${id} for ${workers} worker(s) (queue prefix ${config.prefix})\n`);
    printOutcome(await follow(client, id));
    return 0;
  } finally {
    await client.close();
    await stopAll();
  }
}

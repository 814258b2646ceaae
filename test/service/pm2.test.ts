import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { GradpoolClient } from '../../coordinator/gradpool-client.ts';
import { redisOptions } from '../../protocol/redis.ts';
import { testJob } from '../helpers/test-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';
import { REDIS_URL } from './harness.ts';

// The product as users run it: `pm2 start ecosystem.config.js`, then a job
// submitted through the client and followed to the end. A private PM2_HOME,
// log folder and queue prefix keep it away from any real deployment (and its
// pm2 daemon) on this machine; the daemon is killed however the test ends.
const root = new URL('../../', import.meta.url).pathname;
const pm2Bin = join(root, 'node_modules/.bin/pm2');
const prefix = `gppm2-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const home = mkdtempSync(join(tmpdir(), 'gradpool-pm2-'));
const logDir = join(home, 'app-logs');
const scratch = scratchDir('pm2');
const env: NodeJS.ProcessEnv = {
  ...process.env,
  PM2_HOME: home,
  GRADPOOL_PM2_LOG_DIR: logDir,
  GRADPOOL_PREFIX: prefix,
  GRADPOOL_REDIS_URL: REDIS_URL,
  GRADPOOL_WORKERS: '2',
};
const pm2 = (...args: string[]) =>
  execFileSync(pm2Bin, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 }).toString();

/** The daemon's pid, if one was started in our PM2_HOME. */
const daemonPid = (): number | null => {
  const f = join(home, 'pm2.pid');
  return existsSync(f) ? Number(readFileSync(f, 'utf8').trim()) || null : null;
};
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

let killed = false;
/** `pm2 kill` (stops the apps gracefully, then the daemon); SIGKILL the daemon if that fails. Synchronous: safe in 'exit'. */
function killPm2(): void {
  if (killed) return;
  killed = true;
  const pid = daemonPid();
  try {
    pm2('kill');
  } catch {
    // fall through to the pid check
  }
  if (pid !== null && alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone in between
    }
  }
}
// Backstops for a runner that is interrupted or times the file out before `after` runs.
process.once('exit', killPm2);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killPm2();
    process.exit(130);
  });
}

function logTails(): string {
  if (!existsSync(logDir)) return '(no logs)';
  return readdirSync(logDir)
    .map((f) => `--- ${f}\n${readFileSync(join(logDir, f), 'utf8').split('\n').slice(-15).join('\n')}`)
    .join('\n');
}

after(async () => {
  const pid = daemonPid();
  killPm2();
  const redis = new Redis(redisOptions(REDIS_URL));
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  rmSync(home, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
  if (pid !== null) {
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!alive(pid), `pm2 daemon ${pid} still running after pm2 kill`);
  }
});

test('pm2 start ecosystem.config.js runs the coordinator and 2 workers that train a submitted job', { timeout: 110_000 }, async () => {
  pm2('start', 'ecosystem.config.js');
  const list = JSON.parse(pm2('jlist')) as Array<{ name: string; pm2_env: { status: string; env: Record<string, string> } }>;
  assert.deepEqual(list.map((p) => p.name).sort(), ['gradpool-coordinator', 'gradpool-worker-0', 'gradpool-worker-1']);
  for (const p of list) assert.equal(p.pm2_env.env.GRADPOOL_PREFIX, prefix, `${p.name} got the prefix passed through`);

  const redis = new Redis(redisOptions(REDIS_URL));
  try {
    for (let i = 0; i < 300 && (await redis.keys(`${prefix}:worker:*`)).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await redis.keys(`${prefix}:worker:*`)).length, 2, `both workers registered\n${logTails()}`);
  } finally {
    redis.disconnect();
  }

  const client = new GradpoolClient({ redisUrl: REDIS_URL, prefix });
  try {
    const job = testJob(scratch, { name: 'pm2-run' }, { max_steps: 4, eval_interval: 2 });
    const id = await client.submit(job, { worldSize: 2 });
    const result = await client.result(id).catch((e: Error) => assert.fail(`${e.message}\n${logTails()}`));
    assert.ok(result.finished, JSON.stringify(result));
    assert.equal(result.world_size, 2);
    assert.equal(result.steps, 4);
    const before = result.first_eval?.perplexity;
    const afterTraining = result.last_eval?.perplexity;
    assert.ok(Number.isFinite(before) && Number.isFinite(afterTraining), `perplexities ${before} → ${afterTraining}`);
    assert.ok(afterTraining! < before!, `perplexity ${before} → ${afterTraining}`);
    assert.equal((await client.status(id)).state, 'COMPLETED');
  } finally {
    await client.close();
  }
  // Per-process log files where the ecosystem file puts them.
  for (const f of ['coordinator.err.log', 'worker-0.err.log', 'worker-1.err.log']) assert.ok(existsSync(join(logDir, f)), f);
});

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { PrivateRedis } from './private-redis.ts';

// The workers' liveness probe (scripts/worker-alive.mjs) against a real
// worker process and a real redis-server of this test's own, which the test
// takes down to show that a Redis outage does not fail the probe.
const root = new URL('../../', import.meta.url).pathname;
const prefix = `gpalive-${process.pid}`;
let redis: PrivateRedis;
let worker: ReturnType<typeof spawn>;

function probe(...args: string[]) {
  const r = spawnSync(process.execPath, ['scripts/worker-alive.mjs', ...args], {
    cwd: root,
    env: { ...process.env, GRADPOOL_REDIS_URL: redis.url, GRADPOOL_PREFIX: prefix },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Runs the probe until it exits with `code` (a heartbeat appears or lapses), at most `ms`. */
async function probeUntil(code: number, ms: number, ...args: string[]) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = probe(...args);
    if (r.code === code || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 500));
  }
}

before(async () => {
  redis = await PrivateRedis.start();
  worker = spawn(process.execPath, ['bin/gradpool.js', 'worker'], {
    cwd: root,
    env: { ...process.env, GRADPOOL_REDIS_URL: redis.url, GRADPOOL_PREFIX: prefix },
    stdio: 'ignore',
  });
});

after(async () => {
  if (worker.exitCode === null) {
    worker.kill('SIGCONT');
    worker.kill('SIGKILL');
  }
  await redis.down();
});

test('a live CPU worker passes; asking for a GPU worker or two workers fails, naming what is missing', async () => {
  const live = await probeUntil(0, 30_000);
  assert.equal(live.code, 0, live.out);
  assert.match(live.out, /1 worker\(s\) on .* have a heartbeat: .*-cpu-\d+/);
  const gpu = probe('--gpu');
  assert.equal(gpu.code, 1, gpu.out);
  assert.match(gpu.out, /0 of 1 GPU worker\(s\) on .* have a heartbeat under gpalive-\d+:worker:\* \(none; 1 in all\)/);
  const two = probe('--expect', '2');
  assert.equal(two.code, 1, two.out);
  assert.match(two.out, /1 of 2 worker\(s\)/);
});

test('Redis down: the probe passes without judging; Redis back (empty): the worker beats again and the probe sees it', async () => {
  await redis.down();
  const during = probe('--timeout-ms', '1000');
  assert.equal(during.code, 0, during.out);
  assert.match(during.out, /did not answer .*not judging the workers/);
  await redis.up(); // a restarted Redis keeps nothing: the heartbeat must be written anew
  const back = await probeUntil(0, 30_000);
  assert.equal(back.code, 0, back.out);
  assert.match(back.out, /1 worker\(s\) on .* have a heartbeat/);
});

test('a hung worker (stopped process) loses its heartbeat within its 5 s TTL and the probe fails', async () => {
  worker.kill('SIGSTOP');
  const t0 = Date.now();
  const hung = await probeUntil(1, 25_000);
  assert.equal(hung.code, 1, hung.out);
  assert.match(hung.out, /0 of 1 worker\(s\)/);
  assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`);
});

test('bad arguments exit 2 with the flag named', () => {
  const r = probe('--expect', 'many');
  assert.equal(r.code, 2);
  assert.match(r.out, /--expect must be a whole number >= 1, got "many"/);
});

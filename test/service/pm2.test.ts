import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Redis } from 'ioredis';
import { GradpoolClient } from '../../coordinator/client/gradpool-client.ts';
import { redisOptions } from '../../common/service-config.ts';
import { testJob } from '../helpers/test-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';
import { REDIS_URL } from './harness.ts';

// The product as users run it: `pm2 start ecosystem.config.js`, then a job
// submitted through the client and followed to the end. A private PM2_HOME
// and queue prefix keep it away from any real deployment on this machine.
const root = new URL('../../', import.meta.url).pathname;
const pm2Bin = join(root, 'node_modules/.bin/pm2');
const prefix = `gppm2-${process.pid}`;
const env = {
  ...process.env,
  PM2_HOME: mkdtempSync(join(tmpdir(), 'gradpool-pm2-')),
  GRADPOOL_PREFIX: prefix,
  GRADPOOL_REDIS_URL: REDIS_URL,
  GRADPOOL_WORKERS: '2',
};
const pm2 = (...args: string[]) => execFileSync(pm2Bin, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] }).toString();

after(async () => {
  try {
    pm2('kill');
  } catch {
    // already gone
  }
  const redis = new Redis(redisOptions(REDIS_URL));
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

test('pm2 start ecosystem.config.js runs the coordinator and 2 workers that train a submitted job', async () => {
  pm2('start', 'ecosystem.config.js');
  const list = JSON.parse(pm2('jlist')) as Array<{ name: string; pm2_env: { status: string } }>;
  assert.deepEqual(list.map((p) => p.name).sort(), ['gradpool-coordinator', 'gradpool-worker-0', 'gradpool-worker-1']);
  const redis = new Redis(redisOptions(REDIS_URL));
  for (let i = 0; i < 300 && (await redis.keys(`${prefix}:worker:*`)).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await redis.keys(`${prefix}:worker:*`)).length, 2, 'both workers registered');
  redis.disconnect();

  const client = new GradpoolClient({ redisUrl: REDIS_URL, prefix });
  try {
    const id = await client.submit(testJob(scratchDir('pm2'), { name: 'pm2-run' }, { max_steps: 4, eval_interval: 2 }), { worldSize: 2 });
    const result = await client.result(id);
    assert.ok(result.finished, JSON.stringify(result));
    assert.equal(result.worldSize, 2);
    assert.ok(result.lastEval!.perplexity < result.firstEval!.perplexity);
    assert.equal((await client.status(id)).state, 'COMPLETED');
  } finally {
    await client.close();
  }
});

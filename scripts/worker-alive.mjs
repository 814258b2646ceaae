#!/usr/bin/env node
// Liveness check for the workers of this host (a Kubernetes exec probe):
// exit 0 when at least --expect workers on this hostname have a heartbeat in
// Redis, 1 when fewer do. When Redis cannot be reached it exits 0: an outage
// of Redis is not the worker's fault, and failing here would restart every
// worker of the pool in the middle of its step.
//
//   node scripts/worker-alive.mjs [--expect N] [--gpu] [--timeout-ms MS]
//     --expect N      workers this host must have (default 1; N GPUs in a pod-per-node pod)
//     --gpu           count only workers that own a GPU (a GPU pod whose workers came up on CPU is broken)
//     --timeout-ms    how long Redis may take to answer before it counts as unreachable (default 3000)
//   GRADPOOL_REDIS_URL, GRADPOOL_PREFIX as for the service.
//
// Plain JavaScript on purpose: a probe runs every few seconds and must not
// pay tsx's start-up. The heartbeat it reads is the one the worker writes
// (gpu-worker/rank-worker.ts and protocol/keys.ts): key <prefix>:worker:<id>, a JSON entry
// with its host and gpu, a 5 s TTL refreshed every second; test/deploy/worker-alive.test.ts runs this
// script against a real worker, so a change there fails that test.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';

const { values } = parseArgs({
  options: {
    expect: { type: 'string', default: '1' },
    gpu: { type: 'boolean', default: false },
    'timeout-ms': { type: 'string', default: '3000' },
  },
});
const expect = Number(values.expect);
const timeoutMs = Number(values['timeout-ms']);
if (!Number.isInteger(expect) || expect < 1) fail(2, `--expect must be a whole number >= 1, got "${values.expect}"`);
if (!(timeoutMs > 0)) fail(2, `--timeout-ms must be a positive number, got "${values['timeout-ms']}"`);

const url = process.env.GRADPOOL_REDIS_URL || 'redis://127.0.0.1:6379';
const prefix = process.env.GRADPOOL_PREFIX || 'gradpool';
const host = hostname();

function fail(code, message) {
  process.stderr.write(`worker-alive: ${message}\n`);
  process.exit(code);
}

/** Heartbeat entries of workers on this host; null when Redis did not answer in time. */
async function heartbeatsOfThisHost() {
  const redis = new Redis(url, {
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    lazyConnect: true,
  });
  redis.on('error', () => {}); // reported through the rejected command instead
  try {
    await redis.connect();
    const keys = [];
    // Worker ids start with the hostname; the entry's host field is the check (a glob cannot be exact).
    const pattern = `${prefix}:worker:${host.replace(/[*?[\]\\]/g, '\\$&')}-*`;
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const values = keys.length ? await redis.mget(keys) : [];
    return values.filter((v) => v !== null).map((v) => JSON.parse(v)).filter((e) => e.host === host);
  } catch (e) {
    process.stdout.write(`worker-alive: Redis at ${url} did not answer (${e.message}); not judging the workers\n`);
    return null;
  } finally {
    redis.disconnect();
  }
}

const entries = await heartbeatsOfThisHost();
if (entries === null) process.exit(0);
const counted = values.gpu ? entries.filter((e) => e.gpu !== null && e.gpu !== undefined) : entries;
const ids = counted.map((e) => e.id).join(', ') || 'none';
if (counted.length >= expect) {
  process.stdout.write(`worker-alive: ${counted.length} worker(s) on ${host} have a heartbeat: ${ids}\n`);
  process.exit(0);
}
fail(1, `${counted.length} of ${expect} ${values.gpu ? 'GPU ' : ''}worker(s) on ${host} have a heartbeat under ${prefix}:worker:* (${ids}; ${entries.length} in all)`);

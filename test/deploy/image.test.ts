import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort } from './private-redis.ts';
import { buildGradpoolImage, buildRedisImage, podman, removeContainers, skipUnlessImageTests } from './podman.ts';

// The CPU image as it is deployed: Redis, the coordinator and a worker each in
// a container (host network), a job submitted from the host with the CLI and
// followed to the end, its files on a mounted volume. Midway the worker
// container is stopped (SIGTERM to tini, PID 1): the run must pause at a
// checkpoint and finish on a second worker container, every step logged once.
// The job trains with the torch engine, so the image's libtorch runtime is used.
const root = new URL('../../', import.meta.url).pathname;
const { skip, base } = skipUnlessImageTests();
const tag = `gpimg-${process.pid}`;
const containers = [`${tag}-redis`, `${tag}-coordinator`, `${tag}-worker-a`, `${tag}-worker-b`];
const IMAGE_UID = 10001; // the Dockerfile's user
const STEPS = 40;

after(() => {
  if (!skip) removeContainers(containers);
});

/** The job, with every path under the shared folder (mounted at the same path in each container). */
function writeJob(shared: string): string {
  cpSync(join(root, 'examples/corpus/grimm'), join(shared, 'corpus'), { recursive: true });
  cpSync(join(root, 'test/fixtures/bert-base-uncased'), join(shared, 'tokenizer'), { recursive: true });
  const job = {
    name: 'image-test',
    output_dir: join(shared, 'runs'),
    seed: 3,
    engine: 'torch',
    corpus: { train: join(shared, 'corpus/valid.txt'), valid: join(shared, 'corpus/test.txt'), cache_dir: join(shared, 'cache') },
    tokenizer: join(shared, 'tokenizer'),
    // Big enough that a step takes a good fraction of a second on one core: the stop lands mid-run.
    model: { config: { hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 256, max_position_embeddings: 128 } },
    stages: [{ seq_len: 128, micro_batch: 8, global_batch: 16, max_steps: STEPS, warmup_steps: 4, learning_rate: 1e-3, eval_interval: 20, max_eval_samples: 16, log_interval: 1 }],
    keep_last: 1,
  };
  const path = join(shared, 'job.json');
  writeFileSync(path, JSON.stringify(job, null, 2));
  return path;
}

function stepsLogged(runDir: string): number[] {
  const log = join(runDir, 'logs/train.jsonl');
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { event: string; step: number })
    .filter((e) => e.event === 'step')
    .map((e) => e.step);
}

async function until<T>(what: string, ms: number, probe: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('the CPU image runs the service: a job submitted from the host completes, pausing and resuming across a worker container stopped with SIGTERM', { skip, timeout: 30 * 60_000 }, async () => {
  const t0 = Date.now();
  const image = buildGradpoolImage(base);
  const redisImage = buildRedisImage(base);
  process.stderr.write(`# images ready in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  removeContainers(containers);

  const shared = mkdtempSync(join(tmpdir(), 'gradpool-image-'));
  after(() => rmSync(shared, { recursive: true, force: true }));
  const jobPath = writeJob(shared);
  mkdirSync(join(shared, 'runs'));
  for (const d of [shared, join(shared, 'runs')]) chownSync(d, IMAGE_UID, IMAGE_UID);

  const port = await freePort();
  const env = { GRADPOOL_REDIS_URL: `redis://127.0.0.1:${port}`, GRADPOOL_PREFIX: tag };
  const envArgs = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  const run = (name: string, ...args: string[]) =>
    podman(['run', '-d', '--name', name, '--network', 'host', ...envArgs, '-v', `${shared}:${shared}`, image, 'node', 'bin/gradpool.js', ...args]);
  podman(['run', '-d', '--name', `${tag}-redis`, '--network', 'host', redisImage, '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no']);
  run(`${tag}-coordinator`, 'coordinator');
  run(`${tag}-worker-a`, 'worker');

  const cli = spawn(process.execPath, ['bin/gradpool.js', 'submit', jobPath, '--follow', '--world', '1'], { cwd: root, env: { ...process.env, ...env } });
  let out = '';
  cli.stdout.on('data', (b: Buffer) => (out += b));
  cli.stderr.on('data', (b: Buffer) => (out += b));
  const exited = new Promise<number | null>((r) => cli.once('exit', r));
  after(() => cli.kill('SIGKILL'));

  const runDir = join(shared, 'runs', 'image-test');
  await until('step 3 in the run log on the volume', 300_000, () => stepsLogged(runDir).length >= 3);
  podman(['stop', '--time', '120', `${tag}-worker-a`], { timeoutMs: 180_000 });
  const pausedAt = stepsLogged(runDir).length;
  assert.ok(pausedAt < STEPS, `the run finished (${pausedAt} steps) before the worker was stopped: make its steps slower`);
  // tini passed SIGTERM on: node shut down gracefully (exit 0), the rank paused at a checkpoint.
  assert.equal(podman(['inspect', '--format', '{{.State.ExitCode}}', `${tag}-worker-a`]), '0');
  const logsA = podman(['logs', `${tag}-worker-a`], { withStderr: true });
  assert.match(logsA, /SIGTERM: shutting down gracefully/);
  assert.match(logsA, /torch\/cpu/, 'the rank trained with the libtorch engine');
  assert.ok(existsSync(join(runDir, 'checkpoints/last.pth')), 'the paused run has its checkpoint on the volume');

  run(`${tag}-worker-b`, 'worker');
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 600_000).unref())]);
  assert.equal(code, 0, out.slice(-4000));
  assert.match(out, new RegExp(`run folder: ${runDir} \\(all stages done; 1 rank\\(s\\), ${STEPS} steps\\)`));

  // Every step logged once across the two attempts: the second went on from the checkpoint.
  assert.deepEqual(stepsLogged(runDir), Array.from({ length: STEPS }, (_, i) => i + 1));
  for (const f of ['checkpoints/best.pth', 'checkpoints/last.pth', 'hf/config.json', 'hf/model.safetensors', 'saved_params.json']) {
    assert.ok(existsSync(join(runDir, f)), `${f} on the volume`);
  }
  assert.ok(readdirSync(join(runDir, 'tensorboard_logs')).length > 0, 'TensorBoard events on the volume');
  // Written by the image's non-root user.
  assert.equal(statSync(join(runDir, 'checkpoints/best.pth')).uid, IMAGE_UID);
  process.stderr.write(`# image test done in ${((Date.now() - t0) / 1000).toFixed(0)} s (paused after ${pausedAt} steps)\n`);
});

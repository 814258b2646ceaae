import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { trainCommand } from '../../cli/train-command.ts';
import { FileWriteError, removeStaleTemporaries, writeFileAtomic } from '../../common/atomic-write.ts';
import { loadJobFile } from '../../spec/validate-job.ts';
import { prepareRun } from '../../train/prepare-run.ts';
import { runPaths } from '../../train/run-spec.ts';
import { readCurrentLog } from '../../train/step-log.ts';
import { testJob } from '../helpers/test-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';
import { BIN, mountTmpfs } from './helpers.ts';

const HOST = hostname().replace(/[^A-Za-z0-9.-]/g, '_');
const temporaries = (dir: string) => readdirSync(dir).filter((f) => f.includes('.tmp-'));

test('a full disk: the error names the file and the space it needs, the temporary is removed, the old file stays', () => {
  const dir = scratchDir('enospc');
  const target = join(dir, 'best.pth');
  const unmount = mountTmpfs(dir, 'size=256k');
  try {
    writeFileAtomic(target, Buffer.alloc(1000, 1));
    const big = Buffer.alloc(3_000_000, 2);
    if (unmount) {
      // A real full file system (a 256 KiB tmpfs).
      assert.throws(() => writeFileAtomic(target, big), (e: Error) => e instanceof FileWriteError && e.message === `no space left on device writing ${target} (needs ~3 MB)`);
    }
    // Where no tmpfs can be mounted (and always, as a second check): a writer that fails the way a full disk does.
    const full = { writeSync: () => { throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }); } };
    assert.throws(() => writeFileAtomic(target, big, full), (e: Error) => e.message === `no space left on device writing ${target} (needs ~3 MB)`);
    assert.deepEqual(temporaries(dir), [], 'no temporary file keeps the disk full');
    assert.deepEqual(readFileSync(target), Buffer.alloc(1000, 1), 'the previous file is intact');
  } finally {
    unmount?.();
  }
});

test('temporaries of dead writers are removed; a live writer’s and a young one of another host stay', () => {
  const dir = scratchDir('stale');
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  const names = {
    dead: `.last.pth.tmp-${HOST}-${dead}-${Date.now()}`,
    live: `.last.pth.tmp-${HOST}-${process.pid}-${Date.now()}`,
    otherHost: `.best.pth.tmp-elsewhere-1-${Date.now()}`,
    oldOtherHost: `.best.pth.tmp-elsewhere-1-${Date.now() - 2 * 86400_000}`,
  };
  for (const n of Object.values(names)) writeFileSync(join(dir, n), 'partial');
  writeFileSync(join(dir, 'last.pth'), 'kept');
  assert.deepEqual(removeStaleTemporaries(dir).sort(), [names.dead, names.oldOtherHost].sort());
  assert.deepEqual(readdirSync(dir).sort(), ['last.pth', names.live, names.otherHost].sort());
});

test('kill -9 during checkpoint writes, then --resume: the run completes, no temporaries are left, every step is logged once as current', async () => {
  const dir = scratchDir('kill9');
  testJob(dir, { keep_last: 2, model: { config: { hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 128, max_position_embeddings: 64 } } },
    { max_steps: 24, eval_interval: 0, checkpoint_interval: 1 });
  const runDir = join(dir, 'runs', 'test-run');
  const paths = runPaths(runDir);
  const child = spawn(process.execPath, [BIN, 'train', join(dir, 'job.json')], { stdio: 'ignore', env: { ...process.env, CI: '1' } });
  // Kill it while a checkpoint is being written (a temporary exists), once a few steps are done.
  const killedAt = await new Promise<number>((resolve) => {
    const poll = setInterval(() => {
      const steps = existsSync(join(paths.logs, 'train.jsonl')) ? readCurrentLog(runDir).steps.length : 0;
      if (steps >= 4 && existsSync(paths.checkpoints) && temporaries(paths.checkpoints).length) {
        child.kill('SIGKILL');
        clearInterval(poll);
        resolve(steps);
      }
    }, 1);
    child.on('exit', () => {
      clearInterval(poll);
      resolve(-1);
    });
  });
  await new Promise((r) => (child.exitCode === null && child.signalCode === null ? child.on('exit', r) : r(null)));
  assert.ok(killedAt > 0, 'the run was killed mid-write (it finished first: make its checkpoints slower)');
  assert.ok(temporaries(paths.checkpoints).length > 0, 'the kill left a temporary behind');
  const r = spawnSync(process.execPath, [BIN, 'train', '--resume', runDir], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /removed 1 temporary file\(s\) of interrupted checkpoint writes/);
  assert.deepEqual(temporaries(paths.checkpoints), []);
  const log = readCurrentLog(runDir);
  assert.deepEqual(log.steps.map((s) => s.globalStep), Array.from({ length: 24 }, (_, i) => i + 1));
  assert.equal(log.resumes.length, 1);
  assert.ok(log.records.filter((x) => x.event === 'step').length >= 24, 'the raw log keeps what was undone; readers show the current line');
});

test('files that are not what the job says: a folder as corpus, a truncated .gz, a read-only output_dir, .nan in YAML, a damaged saved_params.json', async () => {
  const dir = scratchDir('files');
  const folder = join(dir, 'corpus-folder');
  mkdirSync(folder);
  await assert.rejects(prepareRun(testJob(dir, { corpus: { train: folder, valid_ratio: 0.1, cache_dir: join(dir, 'c') } }), 1, () => {}), {
    message: `corpus: ${folder} is a folder; give the corpus files in it (.txt, .jsonl, .csv, .tsv, optionally .gz)`,
  });

  const gz = join(dir, 'truncated.txt.gz');
  const whole = gzipSync(Buffer.from('once upon a time there lived a king.\n'.repeat(2000)));
  writeFileSync(gz, whole.subarray(0, whole.byteLength >> 1));
  await assert.rejects(prepareRun(testJob(dir, { corpus: { train: gz, valid_ratio: 0.1, cache_dir: join(dir, 'c') } }), 1, () => {}), (e: Error) =>
    e.message.startsWith(`corpus: ${gz}: truncated or corrupt gzip data (unexpected end of file)`),
  );

  const ro = join(dir, 'readonly');
  mkdirSync(ro);
  const unmount = mountTmpfs(ro, 'ro,size=64k');
  if (!unmount) chmodSync(ro, 0o555); // not root: permissions hold
  try {
    const said: string[] = [];
    const job = testJob(dir, { output_dir: ro, corpus: { train: join(dir, '..', 'none.txt'), valid_ratio: 0.1, cache_dir: join(dir, 'c2') } });
    job.corpus.train = [new URL('../../examples/corpus/grimm/valid.txt', import.meta.url).pathname];
    await assert.rejects(prepareRun(job, 1, (l) => said.push(l)), (e: Error) => /^output_dir: (read-only file system: cannot write|permission denied writing) /.test(e.message));
    assert.ok(!existsSync(join(dir, 'c2')) || readdirSync(join(dir, 'c2')).length === 0, 'refused before any tokenizing');
  } finally {
    unmount?.();
  }

  const yaml = join(dir, 'nan.yaml');
  writeFileSync(yaml, `name: x\ncorpus: { train: a.txt }\ntokenizer: t\nstages: [{ seq_len: 32, micro_batch: 2, global_batch: 4, max_steps: 2, learning_rate: .nan, warmup_ratio: .inf }]\n`);
  assert.throws(() => loadJobFile(yaml), (e: Error) => /learning_rate: must be a finite number, got \.nan \(NaN\)/.test(e.message) && /warmup_ratio: must be a finite number, got \.inf \(Infinity\)/.test(e.message));

  const run = join(dir, 'damaged-run');
  mkdirSync(run);
  writeFileSync(join(run, 'saved_params.json'), '{"run": {"job": {"name": "x", "stag');
  await assert.rejects(trainCommand({ target: run, resume: true }), /run parameters: .*saved_params\.json is not valid JSON \(Unterminated string in JSON at position \d+\); it may be truncated or damaged$/);
  truncateSync(join(run, 'saved_params.json'), 0);
  await assert.rejects(trainCommand({ target: run, resume: true }), /is not valid JSON \(the file is empty\)/);
});

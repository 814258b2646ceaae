import assert from 'node:assert/strict';
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fillMask } from '../../cli/fill-mask-command.ts';
import { trainCommand } from '../../cli/train-command.ts';
import { CorruptFileError } from '../../common/read-file.ts';
import { TokenCache } from '../../data/token-cache.ts';
import { loadTorchFile } from '../../model/formats/torch-file.ts';
import { loadHfModel } from '../../model/hf-folder.ts';
import { Checkpointer } from '../../train/checkpointer.ts';
import { prepareRun } from '../../train/prepare-run.ts';
import { runPaths } from '../../train/run-spec.ts';
import { readCurrentLog } from '../../train/step-log.ts';
import { testJob } from '../helpers/test-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';
import { flipBytes } from './helpers.ts';


/** A finished tiny run with two step checkpoints kept (steps 4 and 6 of 6) and best.pth. */
async function finishedRun(name: string) {
  const dir = scratchDir(name);
  const job = testJob(dir, { keep_last: 2 }, { max_steps: 6, eval_interval: 0, checkpoint_interval: 2 });
  job.name = name;
  const path = join(dir, 'job.json');
  const { spec } = await silent(() => trainCommand({ target: path, resume: false, name }));
  return { dir, spec, paths: runPaths(spec.runDir), job };
}

/** Runs `fn` with stderr quiet (progress lines), keeping what it says for assertions. */
async function silent<T>(fn: () => Promise<T>): Promise<T & { said: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let said = '';
  process.stderr.write = ((s: string) => ((said += s), true)) as typeof process.stderr.write;
  try {
    const r = await fn();
    return Object.assign(r as object, { said }) as T & { said: string };
  } finally {
    process.stderr.write = write;
  }
}

/** Where a checkpoint's tensor bytes are: past the first megabyte of a file of this size. */
const insideData = (path: string) => Math.floor(statSync(path).size / 2);

test('a last.pth with flipped bytes is refused, and --resume continues from the newest step file that verifies', async () => {
  const { spec, paths } = await finishedRun('flip-last');
  // last.pth is step-0000006.pth (one inode): both break together.
  flipBytes(paths.last, insideData(paths.last));
  const point = new Checkpointer(paths.checkpoints, 2).loadResumable();
  assert.equal(point.path, join(paths.checkpoints, 'step-0000004.pth'));
  assert.equal(point.checkpoint.state.globalStep, 4);
  assert.match(point.refused[0]!.reason, /last\.pth is corrupt: .*(SHA-256|CRC-32)/);
  // Through the CLI: the run resumes from step 4, says so, redoes steps 5 and 6, and ends whole.
  const r = await silent(() => trainCommand({ target: spec.runDir, resume: true }));
  assert.match(r.said, /checkpoint refused: .*last\.pth is corrupt/);
  assert.match(r.said, /resuming from .*step-0000004\.pth instead/);
  assert.equal(r.result.losses.length, 2);
  const log = readCurrentLog(spec.runDir);
  assert.deepEqual(log.steps.map((s) => s.globalStep), [1, 2, 3, 4, 5, 6], 'each step once, as it stands');
  assert.equal(log.resumes.length, 1);
  assert.equal(log.resumes[0]!.fromGlobalStep, 4);
  assert.ok(loadTorchFile(paths.last), 'the new last.pth verifies');
});

test('when no checkpoint verifies, --resume refuses and lists every file with its reason', async () => {
  const { spec, paths } = await finishedRun('flip-all');
  for (const f of readdirSync(paths.checkpoints).filter((f) => f.startsWith('step-'))) flipBytes(join(paths.checkpoints, f), insideData(join(paths.checkpoints, f)));
  await assert.rejects(
    silent(() => trainCommand({ target: spec.runDir, resume: true })),
    (e: Error) => /no checkpoint in .* can be resumed from/.test(e.message) && /step-0000004\.pth is corrupt/.test(e.message) && /last\.pth is corrupt/.test(e.message),
  );
});

test('flipped bytes in best.pth, hf/model.safetensors or a token cache are refused or rebuilt, naming the file', async () => {
  const { spec, paths, job } = await finishedRun('flip-other');
  flipBytes(paths.best, insideData(paths.best));
  await assert.rejects(fillMask(spec.runDir, 'the [MASK] was old.', { topK: 3, checkpoint: 'best' }), (e: Error) => e instanceof CorruptFileError && e.message.includes(paths.best));

  const weights = join(paths.hf, 'model.safetensors');
  flipBytes(weights, insideData(weights));
  assert.throws(() => loadHfModel(paths.hf), (e: Error) => e instanceof CorruptFileError && e.message.includes(weights) && /SHA-256/.test(e.message));

  // Token caches carry their own SHA-256: a damaged one is rebuilt, with a message.
  flipBytes(spec.trainCache, insideData(spec.trainCache), 16);
  assert.throws(() => TokenCache.open(spec.trainCache, spec.cacheKey), /checksum mismatch/);
  const said: string[] = [];
  const again = await prepareRun(job, 1, (l) => said.push(l));
  assert.equal(again.trainCache, spec.trainCache);
  assert.ok(said.some((l) => /rebuilding the token cache: .*checksum mismatch/.test(l)), said.join('\n'));
  assert.ok(TokenCache.open(spec.trainCache, spec.cacheKey).numTokens > 0, 'the rebuilt cache verifies');
});

test('a copied run folder resumes in the copy; the original is untouched', async () => {
  const dir = scratchDir('copy');
  const job = testJob(dir, {}, { max_steps: 6, eval_interval: 0, checkpoint_interval: 2 });
  const spec = await prepareRun(job, 1, () => {});
  const first = await silent(() => trainCommand({ target: join(dir, 'job.json'), resume: false, maxStepsThisRun: 3 }));
  assert.equal(first.result.state.finished, false);
  const original = runPaths(spec.runDir);
  const copy = join(dir, 'runs', 'copied');
  cpSync(spec.runDir, copy, { recursive: true });
  const before = statSync(original.last).mtimeMs;
  const r = await silent(() => trainCommand({ target: copy, resume: true }));
  assert.ok(r.result.state.finished);
  assert.equal(r.spec.runDir, copy);
  assert.match(r.said, /saved_params\.json names .*test-run; using the folder given, .*copied/);
  assert.equal(statSync(original.last).mtimeMs, before, 'the original run folder was not written');
  assert.equal(readCurrentLog(copy).steps.length, 6);
});


import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { prepareRun } from '../../train/prepare-run.ts';
import { createEngine } from '../../engine/create-engine.ts';
import { SingleProcessSync } from '../../train/gradient-sync.ts';
import { RunLogger } from '../../train/run-logger.ts';
import { trainRun, TrainingError } from '../../train/train-run.ts';
import { testJob } from '../helpers/test-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';

// A micro-batch too large for the engine's memory (wasm: 4 GiB; the MLM head's
// 30522-way logits over ~10k masked tokens do it) is reported as what it is,
// with the micro-batch and the fix. Its own file: wasm is unusable afterwards.
const root = new URL('../../', import.meta.url).pathname;

test('out of memory in a step names the micro-batch and suggests a smaller one at the same global batch', async () => {
  const dir = scratchDir('oom');
  const job = testJob(
    dir,
    { corpus: { train: join(root, 'examples/corpus/grimm/train.txt'), valid: join(root, 'examples/corpus/grimm/valid.txt'), cache_dir: join(dir, 'cache') } },
    { seq_len: 128, micro_batch: 512, global_batch: 512, max_steps: 1, eval_interval: 0 },
  );
  job.model.config.max_position_embeddings = 128;
  const spec = await prepareRun(job, 1, () => {});
  const engine = await createEngine('wasm', { config: spec.modelConfig, seed: 1 });
  const sink = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
  const originalError = console.error;
  console.error = () => {}; // wasm prints "Aborted()" on its way out
  try {
    await assert.rejects(
      trainRun(spec, { engine, sync: new SingleProcessSync(), resume: false, logger: new RunLogger(null, sink) }),
      (e: Error) =>
        e instanceof TrainingError &&
        /out of memory in micro-batch 1 of 1 \(512 × 128 tokens\)/.test(e.message) &&
        /Try micro_batch 256 with the same global_batch 512/.test(e.message),
    );
  } finally {
    console.error = originalError;
  }
});

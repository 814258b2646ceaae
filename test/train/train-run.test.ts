import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { prepareRun } from '../../train/prepare-run.ts';
import { createEngine } from '../../engine/create-engine.ts';
import { loadHfModel } from '../../model/hf-folder.ts';
import { SingleProcessSync } from '../../train/gradient-sync.ts';
import { RunLogger } from '../../train/run-logger.ts';
import { runPaths, type RunSpec } from '../../train/run-spec.ts';
import { trainRun, TrainingError } from '../../train/train-run.ts';
import { fillMask } from '../../cli/fill-mask-command.ts';
import { batchToJson } from '../helpers/parity.ts';
import { randomBatch } from '../helpers/tiny-model.ts';
import { readEvents } from '../helpers/tfevents-reader.ts';
import { testJob } from '../helpers/test-job.ts';
import { runReference, scratchDir } from '../helpers/torch-reference.ts';

const quiet = (spec: RunSpec) => new RunLogger(runPaths(spec.runDir).logs, { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream);

async function run(spec: RunSpec, o: { resume?: boolean; stepLimit?: number } = {}) {
  const engine = await createEngine(spec.job.engine, { config: spec.modelConfig, seed: spec.job.seed });
  try {
    return await trainRun(spec, { engine, sync: new SingleProcessSync(), resume: o.resume ?? false, stepLimit: o.stepLimit, logger: quiet(spec) });
  } finally {
    engine.dispose();
  }
}

test('a run trains and leaves the run folder users know', async () => {
  const dir = scratchDir('train');
  const job = testJob(dir, {}, { max_steps: 12, eval_interval: 6, learning_rate: 3e-3 });
  const spec = await prepareRun(job, 1, () => {});
  const r = await run(spec);
  const p = runPaths(spec.runDir);
  assert.equal(r.losses.length, 12);
  assert.ok(r.lastEval!.loss < r.firstEval!.loss - 0.5, `eval loss ${r.firstEval!.loss} → ${r.lastEval!.loss}`);
  assert.ok(r.state.finished);
  for (const f of [p.best, p.last, join(p.hf, 'config.json'), join(p.hf, 'model.safetensors'), join(p.hf, 'vocab.txt'), join(p.logs, 'train.jsonl')]) {
    assert.ok(existsSync(f), `${f} exists`);
  }
  // Keep-last-1: one periodic file besides last.pth and best.pth.
  assert.deepEqual(readdirSync(p.checkpoints).filter((f) => f.startsWith('step-')).length, 1);
  assert.equal(loadHfModel(p.hf).config.hidden_size, 32);

  // TensorBoard: every step's train scalars and every evaluation's, readable with both CRCs checked.
  const [tfevents] = readdirSync(p.tensorboard);
  const events = readEvents(join(p.tensorboard, tfevents!));
  assert.equal(events[0]!.fileVersion, 'brain.Event:2');
  const losses = events.filter((e) => 'train/loss' in e.scalars);
  assert.deepEqual(losses.map((e) => e.step), Array.from({ length: 12 }, (_, i) => i + 1));
  assert.ok(Math.abs(losses[11]!.scalars['train/loss']! - r.losses[11]!) < 1e-5);
  const evals = events.filter((e) => 'eval/perplexity' in e.scalars);
  assert.deepEqual(evals.map((e) => e.step), [0, 6, 12]);
  for (const k of ['loss', 'masked_accuracy', 'top10_accuracy', 'all_tokens_accuracy', 'f1']) assert.ok(`eval/${k}` in evals[2]!.scalars);

  // Structured logs: one JSON object a line, with the plan, steps and evaluations.
  const lines = readFileSync(join(p.logs, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => l.event === 'plan' && l.accumulation === 4));
  assert.equal(lines.filter((l) => l.event === 'step').length, 12);

  // best.pth is what torch.load + BertForMaskedLM.load_state_dict(strict=True) accept.
  const check = scratchDir('best');
  writeFileSync(join(check, 'config.json'), JSON.stringify(spec.modelConfig));
  writeFileSync(join(check, 'batch.json'), JSON.stringify(batchToJson(randomBatch(spec.modelConfig, 2, 16, 1))));
  writeFileSync(join(check, 'model.pth'), readFileSync(p.best));
  runReference('load_pth', check);
  assert.ok(Number.isFinite(JSON.parse(readFileSync(join(check, 'load_pth.json'), 'utf8')).loss_sum));

  // fill-mask on the run folder: top-k per [MASK], probabilities in (0, 1], best first.
  writeFileSync(join(spec.runDir, 'saved_params.json'), JSON.stringify({ run: spec }));
  const preds = await fillMask(spec.runDir, 'the king and the [MASK] went to the [MASK].', { topK: 3, checkpoint: 'best', engine: 'wasm' });
  assert.equal(preds.length, 6);
  assert.deepEqual(preds.map((x) => x.mask), [0, 0, 0, 1, 1, 1]);
  assert.ok(preds.every((x) => x.score > 0 && x.score <= 1 && x.sequence.includes('the king')));
  assert.ok(preds[0]!.score >= preds[1]!.score);
});

test('resume: N steps, stop, resume N more = 2N straight, loss for loss (dropout and masking included)', async () => {
  const stage = { max_steps: 8, eval_interval: 0, checkpoint_interval: 0 };
  const a = await prepareRun(testJob(join(scratchDir('straight'), 'x'), {}, stage), 1, () => {});
  const straight = await run(a);
  const b = await prepareRun(testJob(join(scratchDir('resumed'), 'x'), {}, stage), 1, () => {});
  const first = await run(b, { stepLimit: 4 });
  assert.equal(first.state.finished, false);
  const second = await run(b, { resume: true });
  const resumed = [...first.losses, ...second.losses];
  assert.equal(resumed.length, 8);
  for (let i = 0; i < 8; i++) {
    assert.ok(Math.abs(resumed[i]! - straight.losses[i]!) <= 1e-6 * Math.abs(straight.losses[i]!), `step ${i + 1}: ${resumed[i]} vs ${straight.losses[i]}`);
  }
});

test('two stages: the second starts from the first one\'s weights at a longer sequence', async () => {
  const dir = scratchDir('stages');
  const job = testJob(dir, {}, { max_steps: 4, eval_interval: 0 });
  job.stages.push({ ...job.stages[0]!, seq_len: 64, micro_batch: 2, global_batch: 8, max_steps: 3 });
  const spec = await prepareRun(job, 1, () => {});
  assert.deepEqual(spec.plans.map((p) => [p.seqLen, p.accumulation, p.maxSteps]), [[32, 4, 4], [64, 4, 3]]);
  const r = await run(spec);
  assert.equal(r.losses.length, 7);
  assert.equal(r.state.stage, 1);
  assert.ok(r.losses[4]! < r.losses[0]!, 'stage 1 starts from trained weights');
});

test('early stopping: a reached target ends the run at that evaluation', async () => {
  const dir = scratchDir('target');
  const job = testJob(dir, { early_stopping: { metric: 'loss', target: 50 } }, { max_steps: 12, eval_interval: 3 });
  const r = await run(await prepareRun(job, 1, () => {}));
  assert.equal(r.losses.length, 3);
  assert.match(r.state.stopReason!, /target loss 50 reached/);
});

test('a diverging run stops with the step and the last good checkpoint named', async () => {
  const dir = scratchDir('nan');
  const job = testJob(dir, {}, { max_steps: 40, learning_rate: 1e6, warmup_steps: 0, max_grad_norm: 0, checkpoint_interval: 1, eval_interval: 0 });
  const spec = await prepareRun(job, 1, () => {});
  await assert.rejects(run(spec), (e: Error) => e instanceof TrainingError && /step \d+: the run diverged: (the loss is (NaN|Infinity)|the gradient norm is (NaN|Infinity)|the training loss .* stayed above)/.test(e.message) && e.message.includes('last.pth'));
});

test('bad job specs are rejected with the field path', async () => {
  const dir = scratchDir('badjob');
  assert.throws(
    () => testJob(dir, { seed: -1, early_stopping: { metric: 'acc' } }, { global_batch: 10, micro_batch: 4, mlm_probability: 2, schedule: 'cosin' }),
    (e: Error) =>
      /seed: must be an integer ≥ 0, got -1/.test(e.message) &&
      /stages\[0\]\.global_batch: 10 is not a multiple of micro_batch 4/.test(e.message) &&
      /stages\[0\]\.mlm_probability: must be in \(0, 1\), got 2/.test(e.message) &&
      /stages\[0\]\.schedule: must be one of linear, cosine/.test(e.message) &&
      /early_stopping\.metric: must be one of/.test(e.message),
  );
});

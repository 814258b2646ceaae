import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { classifyFile, classifyTexts } from '../../cli/classify-command.ts';
import { createEngine } from '../../engine/create-engine.ts';
import { writePassages } from '../../examples/fairy-tale-passages.ts';
import { readSafetensors } from '../../model/formats/safetensors.ts';
import { loadHfModel } from '../../model/hf-folder.ts';
import { SingleProcessSync } from '../../train/gradient-sync.ts';
import type { ClassificationMetrics } from '../../train/metrics/classification-metrics.ts';
import { prepareRun } from '../../train/prepare-run.ts';
import { createRunEngine } from '../../train/run-engine.ts';
import { RunLogger } from '../../train/run-logger.ts';
import { runPaths, type RunSpec } from '../../train/run-spec.ts';
import { writeSavedParams } from '../../train/saved-params.ts';
import { trainRun } from '../../train/train-run.ts';
import { classificationBatchFor } from '../helpers/classifier-parity.ts';
import { batchToJson } from '../helpers/parity.ts';
import { readEvents } from '../helpers/tfevents-reader.ts';
import { testJob } from '../helpers/test-job.ts';
import { relativeError, runReference, scratchDir } from '../helpers/torch-reference.ts';

const quiet = (spec: RunSpec) => new RunLogger(runPaths(spec.runDir).logs, { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream);
const mlmStage = { seq_len: 32, micro_batch: 4, global_batch: 8, max_steps: 3, warmup_steps: 1, learning_rate: 2e-3, eval_interval: 0, max_eval_samples: 8, log_interval: 1 };

/** An MLM stage on the Grimm corpus, then a classification stage on labelled passages of both collections. */
function clsJob(dir: string, cls: Record<string, unknown> = {}, over: Record<string, unknown> = {}, mlm: Record<string, unknown> = {}) {
  const p = writePassages(join(dir, 'passages'), { maxPerSplit: 40 });
  const stage = {
    ...mlmStage, task: 'classification', max_steps: 8, eval_interval: 4, max_eval_samples: 0,
    labels: { train: p.train, valid: p.valid }, class_weights: 'balanced', label_smoothing: 0.1,
    early_stopping: { metric: 'macro_f1' }, ...cls,
  };
  return { job: testJob(dir, { stages: [{ ...mlmStage, ...mlm }, stage], ...over }), passages: p };
}

async function run(spec: RunSpec, o: { resume?: boolean; stepLimit?: number } = {}) {
  const engine = await createRunEngine(spec, o.resume ? 'replaced' : 'init');
  try {
    return await trainRun(spec, { engine, sync: new SingleProcessSync(), resume: o.resume ?? false, stepLimit: o.stepLimit, logger: quiet(spec) });
  } finally {
    engine.dispose();
  }
}

test('an MLM stage, then a classification stage: metrics in the log, TensorBoard and saved_params.json; best.pth and hf/ load as BertForSequenceClassification; classify', async () => {
  const dir = scratchDir('cls-run');
  const { job, passages } = clsJob(dir);
  const spec = await prepareRun(job, 1, () => {});
  assert.deepEqual(spec.classification[1]!.labels, ['grimm', 'japanese-fairy-tales']);
  assert.deepEqual(spec.classification[1]!.classWeights, [1, 1], 'balanced weights of balanced data');
  writeSavedParams(spec, { engine: 'tfjs', backend: 'wasm', device: 'cpu', dtype: 'float32', threads: 1, versions: {} });
  const r = await run(spec);
  assert.equal(r.losses.length, 11);
  const last = r.lastEval as ClassificationMetrics;
  assert.equal(last.task, 'classification');
  assert.deepEqual(last.per_class.map((c) => c.support), [40, 40]);
  assert.equal(last.confusion_matrix.flatMap((row) => row.predicted).reduce((a, b) => a + b), 80);
  assert.equal(r.state.best?.metric, 'macro_f1');
  assert.equal(r.state.best?.stage, 1, 'the classifier\'s best, not the MLM stage\'s');
  const p = runPaths(spec.runDir);

  // The log: each classification evaluation with its per-label figures and confusion matrix.
  const lines = readFileSync(join(p.logs, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const evals = lines.filter((l) => l.event === 'eval' && l.task === 'classification');
  assert.deepEqual(evals.map((e) => e.step), [0, 4, 8]);
  assert.deepEqual(evals[2].confusion_matrix, last.confusion_matrix);
  assert.ok(lines.some((l) => l.event === 'plan' && l.task === 'classification' && l.totalSamples === 80));

  // TensorBoard: the scalars per label, and the confusion matrix as text.
  const events = readEvents(join(p.tensorboard, readdirSync(p.tensorboard)[0]!));
  const clsEvals = events.filter((e) => 'eval/accuracy' in e.scalars);
  assert.equal(clsEvals.length, 3);
  for (const k of ['eval/loss', 'eval/macro_f1', 'eval/macro_precision', 'eval/macro_recall', 'eval/f1/grimm', 'eval/recall/japanese-fairy-tales']) assert.ok(k in clsEvals[2]!.scalars, k);
  assert.ok(Math.abs(clsEvals[2]!.scalars['eval/accuracy']! - last.accuracy) < 1e-6);
  const text = events.filter((e) => 'eval/confusion_matrix' in e.texts).at(-1)!.texts['eval/confusion_matrix']!;
  assert.match(text, new RegExp(`\\| \\*\\*grimm\\*\\* \\| ${last.confusion_matrix[0]!.predicted.join(' \\| ')} \\|`));

  // saved_params.json: the final metrics, best and stop reason.
  const saved = JSON.parse(readFileSync(p.savedParams, 'utf8'));
  assert.deepEqual(saved.final_metrics, JSON.parse(JSON.stringify(last)));
  assert.equal(saved.stop_reason, 'all stages done');

  // best.pth: torch.load + BertForSequenceClassification.load_state_dict(strict=True) in the PyTorch reference.
  const check = scratchDir('cls-best');
  const config = { ...spec.modelConfig, id2label: { 0: 'grimm', 1: 'japanese-fairy-tales' } };
  const batch = classificationBatchFor(spec.modelConfig, 2, 1);
  writeFileSync(join(check, 'config.json'), JSON.stringify(config));
  writeFileSync(join(check, 'batch.json'), JSON.stringify({ ...batchToJson(batch), labels: Array.from(batch.labels) }));
  copyFileSync(p.best, join(check, 'model.pth'));
  runReference('load_pth', check, 'bert_cls_ref.py');
  const loaded = JSON.parse(readFileSync(join(check, 'load_pth.json'), 'utf8'));
  assert.ok(Number.isFinite(loaded.loss_sum));
  assert.ok(loaded.keys.includes('classifier.weight') && !loaded.keys.some((k: string) => k.startsWith('cls.')));

  // hf/: config.json with id2label/label2id; the reference reads the folder's weights as from_pretrained would and gives our logits.
  const hfConfig = JSON.parse(readFileSync(join(p.hf, 'config.json'), 'utf8'));
  assert.deepEqual(hfConfig.architectures, ['BertForSequenceClassification']);
  assert.deepEqual(hfConfig.label2id, { grimm: 0, 'japanese-fairy-tales': 1 });
  const hf = loadHfModel(p.hf);
  assert.deepEqual(hf.labels, ['grimm', 'japanese-fairy-tales']);
  copyFileSync(join(p.hf, 'config.json'), join(check, 'config.json'));
  copyFileSync(join(p.hf, 'model.safetensors'), join(check, 'weights.safetensors'));
  runReference('forward', check, 'bert_cls_ref.py');
  const engine = await createEngine('wasm', { config: spec.modelConfig, head: hf.head, weights: hf.weights, seed: 0 });
  const ours = await engine.classify(batch);
  engine.dispose();
  const err = relativeError(ours.logits, readSafetensors(join(check, 'ref.safetensors')).tensors.get('logits')!.data);
  assert.ok(err < 3e-6, `hf/ logits vs the reference: ${err}`); // measured 1.7e-7 (tfjs vs torch, float32)

  // gradpool classify: one text, and a labelled file scored with the evaluation's metrics.
  const [one] = await classifyTexts(spec.runDir, [{ text: 'the old fisherman and the dragon king' }], { checkpoint: 'best', engine: 'wasm' });
  assert.ok(['grimm', 'japanese-fairy-tales'].includes(one!.label));
  assert.ok(Math.abs(Object.values(one!.probabilities).reduce((a, b) => a + b) - 1) < 1e-9);
  const scored = await classifyFile(spec.runDir, passages.test, { checkpoint: 'best', engine: 'wasm' });
  assert.equal(scored.predictions.length, 80);
  assert.equal(scored.metrics!.examples, 80);
  assert.equal(scored.predictions[0]!.true_label, 'grimm');
});

test('early stopping ends the stages of its task: an MLM target goes on to the classification stage, whose accuracy target ends the run', async () => {
  const dir = scratchDir('cls-stop');
  const { job } = clsJob(
    dir,
    { early_stopping: { metric: 'accuracy', target: 0 }, eval_interval: 2 },
    { early_stopping: { metric: 'loss', target: 50 } },
    { max_steps: 6, eval_interval: 1 },
  );
  const r = await run(await prepareRun(job, 1, () => {}));
  assert.equal(r.losses.length, 1 + 2, 'one MLM step (loss target), two classification steps (accuracy target)');
  assert.match(r.state.stopReason!, /target accuracy 0 reached/);
  assert.equal(r.state.stage, 1);
});

test('resume: paused at the MLM → classification boundary and inside the classification stage, the same losses as straight', async () => {
  const straight = await run(await prepareRun(clsJob(join(scratchDir('cls-straight'), 'x')).job, 1, () => {}));
  const spec = await prepareRun(clsJob(join(scratchDir('cls-resumed'), 'x')).job, 1, () => {});
  const a = await run(spec, { stepLimit: 3 });
  const b = await run(spec, { resume: true, stepLimit: 5 });
  const c = await run(spec, { resume: true });
  assert.deepEqual([a.losses.length, b.losses.length, c.losses.length], [3, 5, 3]);
  const resumed = [...a.losses, ...b.losses, ...c.losses];
  for (let i = 0; i < straight.losses.length; i++) {
    assert.ok(Math.abs(resumed[i]! - straight.losses[i]!) <= 1e-6 * Math.abs(straight.losses[i]!), `step ${i + 1}: ${resumed[i]} vs ${straight.losses[i]}`);
  }
  assert.deepEqual(c.lastEval, straight.lastEval);
});

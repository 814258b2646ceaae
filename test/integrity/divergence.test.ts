import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEngine } from '../../engine/create-engine.ts';
import { DivergenceGuard, evaluationDiverged } from '../../train/divergence-guard.ts';
import { SingleProcessSync } from '../../train/gradient-sync.ts';
import { prepareRun } from '../../train/prepare-run.ts';
import { RunLogger } from '../../train/run-logger.ts';
import { runPaths, type RunSpec } from '../../train/run-spec.ts';
import { readCurrentLog } from '../../train/step-log.ts';
import { trainRun, TrainingError } from '../../train/train-run.ts';
import { testJob } from '../helpers/test-job.ts';
import { scratchDir } from '../helpers/torch-reference.ts';

const spec = { factor: 4, patience: 3, window: 20, action: 'fail' as const };

test('the guard: a loss above factor × the recent median for patience steps diverges; one spike does not', () => {
  const g = new DivergenceGuard(spec, Math.log(30522));
  for (let i = 0; i < 20; i++) assert.equal(g.observe(3 - i * 0.01), null);
  assert.equal(g.observe(20), null, 'one spike');
  assert.equal(g.suspicious, true);
  assert.equal(g.observe(2.8), null, 'back to normal');
  assert.equal(g.suspicious, false);
  assert.equal(g.observe(20), null);
  assert.equal(g.observe(25), null);
  assert.match(g.observe(30)!, /training loss \(30\.00\) stayed above 4 × its recent median \(2\.\d+\) for 3 steps/);
});

test('the guard judges the first steps against a uniform guess (ln V), so an early explosion is caught', () => {
  const g = new DivergenceGuard(spec, Math.log(30522));
  assert.equal(g.observe(10.3), null, 'an untrained model scores about ln V');
  for (const l of [1e3, 1e6]) assert.equal(g.observe(l), null);
  assert.match(g.observe(1e9)!, /above 4 × the loss of a uniform guess \(10\.33\)/);
});

test('an evaluation diverges when it is not finite or far above the lowest so far', () => {
  assert.match(evaluationDiverged(NaN, 3, 4)!, /evaluation loss is NaN/);
  assert.match(evaluationDiverged(Infinity, undefined, 4)!, /Infinity/);
  assert.match(evaluationDiverged(13, 3, 4)!, /above 4 × the lowest so far/);
  assert.equal(evaluationDiverged(11, 3, 4), null);
  assert.equal(evaluationDiverged(50, undefined, 4), null);
});

async function run(s: RunSpec) {
  const engine = await createEngine(s.job.engine, { config: s.modelConfig, seed: s.job.seed });
  const logger = new RunLogger(runPaths(s.runDir).logs, { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream);
  try {
    return await trainRun(s, { engine, sync: new SingleProcessSync(), resume: false, logger });
  } finally {
    engine.dispose();
  }
}

test('learning rate 10: the run fails at the step it diverged, naming the last good checkpoint; no end record', async () => {
  const dir = scratchDir('lr10');
  const job = testJob(dir, {}, { max_steps: 40, learning_rate: 10, warmup_steps: 0, max_grad_norm: 0, eval_interval: 0, checkpoint_interval: 1 });
  const s = await prepareRun(job, 1, () => {});
  await assert.rejects(run(s), (e: Error) => e instanceof TrainingError && /stage 0 step \d+: the run diverged: .*Last good checkpoint: .*last\.pth \(step \d+\)/.test(e.message));
  const log = readCurrentLog(s.runDir);
  assert.ok(!log.records.some((r) => r.event === 'end'));
  assert.ok(log.records.some((r) => r.event === 'failed' && /diverged/.test(String(r.reason))));
});

test('divergence.action rollback: back to the last good checkpoint once, skipping the batches since it; a second divergence fails', async () => {
  const dir = scratchDir('rollback');
  const job = testJob(dir, { divergence: { action: 'rollback' } }, { max_steps: 40, learning_rate: 10, warmup_steps: 0, max_grad_norm: 0, eval_interval: 0, checkpoint_interval: 1 });
  const s = await prepareRun(job, 1, () => {});
  await assert.rejects(run(s), (e: Error) => e instanceof TrainingError && /after a rollback already skipped the batches/.test(e.message));
  const log = readCurrentLog(s.runDir);
  const resume = log.resumes[0]!;
  assert.match(String(resume.reason), /^rollback: .* at stage 0 step \d+/);
  const rollback = log.records.find((r) => r.event === 'rollback') as { skippedMicroBatches: { from: number; to: number } } | undefined;
  assert.ok(rollback && rollback.skippedMicroBatches.to > rollback.skippedMicroBatches.from, JSON.stringify(rollback));
  const steps = log.steps.map((r) => r.globalStep);
  assert.deepEqual(steps, [...new Set(steps)], 'the current line has each step once');
});

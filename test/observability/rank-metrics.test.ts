import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RankMetrics } from '../../gpu-worker/rank-metrics.ts';
import { resolveBertConfig } from '../../model/bert-config.ts';
import { trainingFlopsPerToken } from '../../model/model-flops.ts';
import type { RankJobData } from '../../protocol/rank-job.ts';
import type { StepReport } from '../../train/train-step.ts';
import { samples } from './helpers.ts';

const config = resolveBertConfig({ hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 128 } as never);
const job = (runId: string, rank: number, attempt: number): RankJobData =>
  ({ runId, rank, attempt, worldSize: 4, resume: false, gangDeadlineMs: 1000, spec: { modelConfig: config, plans: [{ stage: 0, seqLen: 128 }, { stage: 1, seqLen: 512 }] } }) as unknown as RankJobData;
const report = (stage: number, over: Partial<StepReport> = {}): StepReport => ({
  stage, step: 3, maxSteps: 10, globalStep: 13, loss: 2.5, lr: 1e-4, gradNorm: 0.7, seconds: 0.5, tokensPerSec: 40_000, samplesPerSec: 80, etaSec: 3.5,
  timings: { data: 0.01, forwardBackward: 0.4, allReduce: 0.05, optimizer: 0.03, checkpoint: 0 },
  ...over,
});

test('MFU: this rank\'s share of the tokens × the stage\'s FLOPs per token / GRADPOOL_PEAK_TFLOPS; a new run drops the old run\'s gauges', async () => {
  const m = new RankMetrics({ GRADPOOL_PEAK_TFLOPS: '100' });
  m.startRank(job('run-a', 2, 3));
  m.recordStep(report(1), 123e6);
  let text = await m.registry.metrics();
  const mfu = samples(text, 'gradpool_rank_mfu');
  assert.deepEqual(mfu.map((s) => s.labels), [{ run: 'run-a', rank: '2' }]);
  assert.equal(mfu[0]!.value, ((40_000 / 4) * trainingFlopsPerToken(config, 512)) / 100e12);
  assert.equal(samples(text, 'gradpool_rank_restarts')[0]!.value, 2);
  assert.equal(samples(text, 'gradpool_rank_peak_rss_bytes')[0]!.value, 123e6);
  assert.equal(samples(text, 'gradpool_rank_step_phase_seconds').find((s) => s.labels.phase === 'forward_backward')!.value, 0.4);
  // A non-finite loss (an invalid step) leaves the last good value.
  m.recordStep(report(1, { loss: NaN }), 123e6);
  text = await m.registry.metrics();
  assert.equal(samples(text, 'gradpool_rank_loss')[0]!.value, 2.5);
  assert.equal(samples(text, 'gradpool_rank_steps_total')[0]!.value, 2);

  m.startRank(job('run-b', 0, 1));
  m.recordStep(report(0), 1);
  text = await m.registry.metrics();
  assert.deepEqual([...new Set(samples(text, 'gradpool_rank_loss').map((s) => s.labels.run))], ['run-b']);
  assert.deepEqual([...new Set(samples(text, 'gradpool_rank_step_phase_seconds').map((s) => s.labels.run))], ['run-b']);
  assert.equal(samples(text, 'gradpool_worker_ranks_started_total')[0]!.value, 2);
});

test('no GRADPOOL_PEAK_TFLOPS, no MFU', async () => {
  const m = new RankMetrics({});
  m.startRank(job('run-c', 0, 1));
  m.recordStep(report(0), 1);
  assert.equal(samples(await m.registry.metrics(), 'gradpool_rank_mfu').length, 0);
});

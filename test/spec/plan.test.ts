import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STAGE_DEFAULTS, type StageSpec } from '../../spec/job-spec.ts';
import { formatPlan, planStage } from '../../spec/plan-stages.ts';
import { learningRateAt } from '../../spec/lr-schedule.ts';

const stage = (o: Partial<StageSpec>): StageSpec => ({ ...STAGE_DEFAULTS, seq_len: 256, micro_batch: 4, global_batch: 64, ...o });

test("a real run's log: 18,092 samples, world 1, global 64, micro 4, 3 epochs", () => {
  const p = planStage(stage({ epochs: 3 }), 0, 1, 18_092);
  assert.equal(p.accumulation, 16);
  assert.equal(p.microBatchesPerEpoch, 4_523);
  assert.equal(p.maxSteps, 848);
  assert.equal(p.warmupSteps, 84);
  assert.equal(p.annealingSteps, 763);
  assert.equal(p.droppedSamples, 0);
  assert.equal(p.samplesPerRank, 18_092);
  const table = formatPlan(p, 'tfjs/wasm');
  for (const label of ['Sequence Length', 'Gradient Accum Steps', 'Dropped Samples', 'Samples per rank', 'Engine']) {
    assert.match(table, new RegExp(`\\| ${label} +\\|`));
  }
  assert.match(table, /\| Max Steps +\| +848 \|/);
});

test('world 2 and 8 halve and divide the accumulation; remainders are dropped per epoch', () => {
  const two = planStage(stage({ epochs: 3 }), 0, 2, 18_092);
  assert.deepEqual([two.accumulation, two.samplesPerRank, two.microBatchesPerEpoch, two.droppedSamples], [8, 9_046, 2_261, 4]);
  assert.equal(two.maxSteps, Math.floor((3 * 2_261) / 8)); // 847
  const eight = planStage(stage({ epochs: 3 }), 0, 8, 18_092);
  assert.deepEqual([eight.accumulation, eight.samplesPerRank, eight.microBatchesPerEpoch, eight.droppedSamples], [2, 2_261, 565, 12]);
  assert.equal(eight.maxSteps, 847);
  const odd = planStage(stage({ epochs: 1, micro_batch: 8, global_batch: 32 }), 0, 1, 1_003);
  assert.deepEqual([odd.accumulation, odd.microBatchesPerEpoch, odd.droppedSamples, odd.maxSteps], [4, 125, 3, 31]);
});

test('an elastic run (world sizes 1, 2, 8) uses the same samples per epoch and the same steps at each size', () => {
  const plans = [1, 2, 8].map((w) => planStage(stage({ epochs: 3 }), 0, w, 18_092, [1, 2, 8]));
  // 18,092 = 565 groups of 8 × 4 samples + 12: every size drops the same 12, and 3 epochs are 847 steps at each.
  for (const p of plans) assert.deepEqual([p.droppedSamples, p.maxSteps, p.microBatchesPerEpoch * p.worldSize], [12, 847, 4_520]);
  assert.deepEqual(plans.map((p) => p.accumulation), [16, 8, 2]);
});

test('max_steps and warmup_steps as given; epochs derived', () => {
  const p = planStage(stage({ max_steps: 2000, warmup_steps: 100 }), 1, 1, 18_092);
  assert.deepEqual([p.maxSteps, p.warmupSteps, p.annealingSteps], [2000, 100, 1899]);
  assert.ok(Math.abs(p.epochs - (2000 * 16) / 4523) < 1e-9);
});

test('a global batch not divisible by micro × world is an error naming the three numbers', () => {
  assert.throws(() => planStage(stage({ epochs: 1, global_batch: 64, micro_batch: 4 }), 0, 3, 1000), /global_batch 64 .* micro_batch 4 × world size 3/);
  assert.throws(() => planStage(stage({ epochs: 1 }), 0, 1, 3), /fewer than one micro-batch/);
});

test('learning rate: warmup to the peak, anneal to the floor on the last step', () => {
  const s = { peak: 1e-3, warmup: 10, annealing: 89, schedule: 'linear' as const, minRatio: 0.1 };
  assert.equal(learningRateAt(0, s), 1e-4);
  assert.equal(learningRateAt(9, s), 1e-3);
  assert.equal(learningRateAt(10, s), 1e-3);
  assert.ok(Math.abs(learningRateAt(99, s) - 1e-4) < 1e-15);
  const c = { ...s, schedule: 'cosine' as const };
  assert.ok(Math.abs(learningRateAt(10 + 89 / 2, c) - (1e-4 + 0.9e-3 * 0.5)) < 1e-12);
  assert.ok(learningRateAt(60, c) > learningRateAt(61, c));
});

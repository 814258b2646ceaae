import { BlockDataset } from '../data/blocks.ts';
import type { StageSpec } from '../spec/job-spec.ts';
import type { StagePlan } from '../spec/plan-stages.ts';
import { BatchBuilder } from './batches.ts';
import { TrainingError } from './failures.ts';
import type { RunContext } from './run-context.ts';
import { SampleOrder } from './sample-order.ts';

/** One stage as the step needs it: its plan, its spec, what this rank reads and how it is masked. */
export interface StageContext {
  plan: StagePlan;
  stage: StageSpec;
  order: SampleOrder;
  builder: BatchBuilder;
}

export function openStageContext(run: RunContext, index: number): StageContext {
  const plan = run.spec.plans[index]!;
  const stage = run.job.stages[index]!;
  const blocks = new BlockDataset(run.train, plan.seqLen, run.spec.special);
  if (blocks.length !== plan.totalSamples) {
    throw new TrainingError(`stage ${plan.stage}: the token cache gives ${blocks.length} samples, the plan ${plan.totalSamples}`);
  }
  return {
    plan,
    stage,
    order: new SampleOrder(plan, run.job.seed, run.sync.rank),
    builder: new BatchBuilder(blocks, run.maskingFor(stage), run.job.seed),
  };
}

import type { StageSpec } from '../spec/job-spec.ts';
import type { StagePlan } from '../spec/plan-stages.ts';
import { classificationTask } from './classification-task.ts';
import { TrainingError } from './failures.ts';
import { mlmTask } from './mlm-task.ts';
import type { RunContext } from './run-context.ts';
import { SampleOrder } from './sample-order.ts';
import type { StageTask } from './stage-task.ts';

/** One stage as the step needs it: its plan, its spec, what this rank reads and what its task does with it. */
export interface StageContext {
  plan: StagePlan;
  stage: StageSpec;
  order: SampleOrder;
  task: StageTask;
}

export function openStageContext(run: RunContext, index: number): StageContext {
  const plan = run.spec.plans[index]!;
  const stage = run.job.stages[index]!;
  const cls = run.spec.classification[index];
  const task = stage.task === 'classification' ? classificationTask(cls!, stage, plan) : mlmTask(run, stage, plan);
  if (task.samples !== plan.totalSamples) {
    throw new TrainingError(`stage ${plan.stage}: the ${stage.task === 'mlm' ? 'token' : 'example'} cache gives ${task.samples} samples, the plan ${plan.totalSamples}`);
  }
  return { plan, stage, order: new SampleOrder(plan, run.job.seed, run.sync.rank), task };
}

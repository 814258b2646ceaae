import { BlockDataset } from '../data/blocks.ts';
import type { StageSpec } from '../spec/job-spec.ts';
import type { StagePlan } from '../spec/plan-stages.ts';
import { BatchBuilder } from './batches.ts';
import { evaluate } from './evaluator.ts';
import type { RunContext } from './run-context.ts';
import { realTokens, type StageTask } from './stage-task.ts';

/** An MLM stage: masked blocks of the corpus, the sum of the masked tokens' cross-entropy, MLM metrics. */
export function mlmTask(run: RunContext, stage: StageSpec, plan: StagePlan): StageTask {
  const corpus = run.mlmCorpus();
  const blocks = new BlockDataset(corpus.train, plan.seqLen, run.spec.special);
  const builder = new BatchBuilder(blocks, run.maskingFor(stage), run.job.seed);
  return {
    samples: blocks.length,
    numClasses: run.spec.modelConfig.vocab_size,
    async microStep(engine, samples, epoch) {
      const t0 = performance.now();
      const batch = builder.build(samples, plan.stage, epoch);
      const dataSeconds = (performance.now() - t0) / 1000;
      const r = await engine.forwardBackward(batch, true);
      return { lossSum: r.lossSum, count: r.maskedTokens, tokens: realTokens(batch), dataSeconds };
    },
    evaluate: (engine) =>
      evaluate(engine, new BlockDataset(corpus.valid, plan.seqLen, run.spec.special), run.maskingFor(stage), {
        seed: run.job.seed,
        microBatch: plan.microBatch,
        maxSamples: stage.max_eval_samples,
      }),
  };
}

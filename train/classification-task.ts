import { readExampleCache } from '../data/example-cache.ts';
import type { ClassificationLoss } from '../engine/engine.ts';
import type { StageSpec } from '../spec/job-spec.ts';
import type { StagePlan } from '../spec/plan-stages.ts';
import { classificationBatch } from './classification-batches.ts';
import { evaluateClassifier } from './classification-evaluator.ts';
import type { ClassificationData } from './run-spec.ts';
import { realTokens, type StageTask } from './stage-task.ts';

/** A classification stage: whole labelled examples, the weighted (smoothed) cross-entropy, classifier metrics. */
export function classificationTask(data: ClassificationData, stage: StageSpec, plan: StagePlan): StageTask {
  const train = readExampleCache(data.trainCache, data.cacheKey);
  const valid = readExampleCache(data.validCache, data.cacheKey);
  const loss: ClassificationLoss = {
    classWeights: data.classWeights ? Float32Array.from(data.classWeights) : null,
    labelSmoothing: stage.label_smoothing,
  };
  return {
    samples: train.header.count,
    numClasses: data.labels.length,
    async microStep(engine, samples) {
      const t0 = performance.now();
      const batch = classificationBatch(train, samples);
      const dataSeconds = (performance.now() - t0) / 1000;
      const r = await engine.forwardBackwardClassify(batch, loss, true);
      return { lossSum: r.lossSum, count: r.weightSum, tokens: realTokens(batch), dataSeconds };
    },
    evaluate: (engine) => evaluateClassifier(engine, valid, data.labels, loss, { microBatch: plan.microBatch, maxSamples: stage.max_eval_samples }),
  };
}

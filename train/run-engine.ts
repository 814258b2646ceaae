import { createEngine } from '../engine/create-engine.ts';
import type { Engine } from '../engine/engine.ts';
import { loadHfModel } from '../model/hf-folder.ts';
import type { StateDict } from '../model/state-dict.ts';
import type { RunSpec } from './run-spec.ts';
import { classifierStartWeights, initFromTensors, stageHead } from './stage-model.ts';

/**
 * The engine a run trains with: the job's engine holding stage 0's model,
 * started from the run's init_from folder when `withInitWeights` (a fresh
 * run, on the rank whose weights everyone receives), else from BERT's init
 * (a resume loads last.pth). `device`: the rank's placement (torch only).
 */
export async function createRunEngine(spec: RunSpec, withInitWeights: boolean, device?: string): Promise<Engine> {
  const head = stageHead(spec, 0);
  let weights: StateDict | undefined;
  if (withInitWeights && spec.initFrom) {
    if (head.kind === 'classification') weights = classifierStartWeights(spec, 0, initFromTensors(spec));
    else {
      const init = loadHfModel(spec.initFrom);
      if (init.ignored.length) process.stderr.write(`model: ${spec.initFrom}: not used by the MLM model: ${init.ignored.join(', ')}\n`);
      weights = init.weights;
    }
  }
  return createEngine(spec.job.engine, {
    config: spec.modelConfig,
    head,
    weights,
    weightsSource: spec.initFrom ?? undefined,
    seed: spec.job.seed,
    ...(device ? { device } : {}),
  });
}

import { createEngine } from '../engine/create-engine.ts';
import type { Engine } from '../engine/engine.ts';
import { loadHfModel } from '../model/hf-folder.ts';
import type { StateDict } from '../model/state-dict.ts';
import type { RunSpec } from './run-spec.ts';
import { classifierStartWeights, initFromTensors, stageHead } from './stage-model.ts';

/**
 * The engine a run trains with: the job's engine holding stage 0's model.
 * `start`: "init" for the weights the run starts from (its init_from folder,
 * else BERT's random init; a fresh run, on the rank whose weights everyone
 * receives); "replaced" where they are overwritten before use (another rank
 * of a fresh run receives rank 0's; a resume loads last.pth), which skips the
 * init. `device`: the rank's placement (torch only).
 */
export async function createRunEngine(spec: RunSpec, start: 'init' | 'replaced', device?: string): Promise<Engine> {
  const head = stageHead(spec, 0);
  let weights: StateDict | undefined;
  if (start === 'init' && spec.initFrom) {
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
    placeholder: start === 'replaced',
    seed: spec.job.seed,
    ...(device ? { device } : {}),
  });
}

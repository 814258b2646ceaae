import { createEngine } from '../engine/create-engine.ts';
import type { Engine } from '../engine/engine.ts';
import { loadHfModel } from '../model/hf-folder.ts';
import type { RunSpec } from './run-spec.ts';

/**
 * The engine a run trains with: the job's engine, started from the run's
 * init_from folder when `withInitWeights` (a fresh run, on the rank whose
 * weights everyone receives), else from BERT's init (a resume loads last.pth).
 */
export async function createRunEngine(spec: RunSpec, withInitWeights: boolean): Promise<Engine> {
  const init = withInitWeights && spec.initFrom ? loadHfModel(spec.initFrom) : null;
  if (init?.ignored.length) process.stderr.write(`model: ${spec.initFrom}: not used by the MLM model: ${init.ignored.join(', ')}\n`);
  return createEngine(spec.job.engine, {
    config: spec.modelConfig,
    weights: init?.weights,
    weightsSource: spec.initFrom ?? undefined,
    seed: spec.job.seed,
  });
}

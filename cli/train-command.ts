import { existsSync } from 'node:fs';
import { loadJobFile } from '../spec/validate-job.ts';
import { prepareRun } from '../train/prepare-run.ts';
import { createRunEngine } from '../train/run-engine.ts';
import { SingleProcessSync } from '../train/gradient-sync.ts';
import { runPaths, type RunSpec } from '../train/run-spec.ts';
import { readSavedRun, writeSavedParams } from '../train/saved-params.ts';
import { trainRun, type TrainResult } from '../train/train-run.ts';

export interface TrainCommandOptions {
  /** A job file, or a run folder with --resume. */
  target: string;
  resume: boolean;
  engine?: string;
  /** Overrides the job's name (the run folder). */
  name?: string;
  /** Stop after this many steps (then resume later). */
  maxStepsThisRun?: number;
}

/** `gradpool train`: one process, the whole loop; SIGINT/SIGTERM checkpoint and stop. */
export async function trainCommand(o: TrainCommandOptions): Promise<{ spec: RunSpec; result: TrainResult }> {
  let spec: RunSpec;
  if (o.resume) {
    if (!existsSync(runPaths(o.target).savedParams)) throw new Error(`${o.target}: not a run folder (no saved_params.json)`);
    spec = readSavedRun(o.target, (l) => process.stderr.write(`${l}\n`));
  } else {
    const job = loadJobFile(o.target);
    if (o.name) job.name = o.name;
    spec = await prepareRun(job, 1);
    if (existsSync(runPaths(spec.runDir).last)) {
      throw new Error(`${spec.runDir} already holds a run: resume it with \`gradpool train --resume ${spec.runDir}\` or choose another name`);
    }
  }
  if (o.engine) spec.job.engine = o.engine;
  const engine = await createRunEngine(spec, o.resume ? 'replaced' : 'init');
  writeSavedParams(spec, engine.info);
  let stopRequested = false;
  const onSignal = (sig: string) => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    process.stderr.write(`\n${sig}: finishing this step, writing last.pth, then stopping (again to abort)\n`);
  };
  const sigint = () => onSignal('SIGINT');
  const sigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  try {
    const result = await trainRun(spec, {
      engine,
      sync: new SingleProcessSync(),
      resume: o.resume,
      shouldStop: () => stopRequested,
      stepLimit: o.maxStepsThisRun,
    });
    return { spec, result };
  } finally {
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
    engine.dispose();
  }
}

import { existsSync, linkSync, mkdirSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine, OptimizerState } from '../engine/engine.ts';
import { loadTorchFile, saveTorchFile, stateDictOf } from '../model/formats/torch-file.ts';
import { withTiedCopies } from '../model/model-head.ts';
import type { StateDict } from '../model/state-dict.ts';
import type { MetricName } from '../spec/job-spec.ts';

/** Where the loop is: what last.pth stores besides weights and moments. */
export interface TrainerState {
  stage: number;
  /** Optimizer steps completed in this stage. */
  step: number;
  /** Micro-batches this rank consumed in this stage (the data position). */
  microCursor: number;
  /** Optimizer steps completed over all stages. */
  globalStep: number;
  best: { metric: MetricName; value: number; stage: number; step: number } | null;
  /** Evaluations since the best one (early-stopping patience). */
  badEvals: number;
  /** Dropout stream of the engine. */
  engineRng: number[];
  /** True once the run has ended (all stages, early stop or target). */
  finished: boolean;
  stopReason: string | null;
}

export interface LoadedCheckpoint {
  model: StateDict;
  optimizer: OptimizerState;
  state: TrainerState;
}

/**
 * The run's checkpoints: last.pth (everything needed to resume), best.pth
 * (the best model's state dict only, loadable by BertForMaskedLM, or by
 * BertForSequenceClassification once a classification stage has run), and the
 * last `keepLast` periodic step-N.pth. Every file is written under a
 * temporary name, fsync'd and renamed (see writeFileAtomic), so a crash at
 * any point leaves the previous good file in place.
 */
export class Checkpointer {
  constructor(
    private readonly dir: string,
    private readonly keepLast: number,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  get lastPath(): string {
    return join(this.dir, 'last.pth');
  }
  get bestPath(): string {
    return join(this.dir, 'best.pth');
  }

  saveLast(engine: Engine, state: TrainerState): string {
    const opt = engine.optimizerState();
    const obj = new Map<string, unknown>([
      ['format', 'gradpool-last-v1'],
      ['model', withTiedCopies(engine.stateDict(), engine.head)],
      [
        'optimizer',
        new Map<string, unknown>([
          ['step', opt.step],
          ['exp_avg', { shape: [opt.expAvg.length], data: opt.expAvg }],
          ['exp_avg_sq', { shape: [opt.expAvgSq.length], data: opt.expAvgSq }],
        ]),
      ],
      ['trainer', JSON.stringify(state)],
    ]);
    if (this.keepLast === 0) {
      saveTorchFile(this.lastPath, obj as never);
      return this.lastPath;
    }
    const stepPath = join(this.dir, `step-${String(state.globalStep).padStart(7, '0')}.pth`);
    saveTorchFile(stepPath, obj as never);
    // last.pth becomes a second name of the step file: atomic, and no second write.
    const tmp = `${this.lastPath}.tmp-${process.pid}`;
    if (existsSync(tmp)) unlinkSync(tmp);
    linkSync(stepPath, tmp);
    renameSync(tmp, this.lastPath);
    const steps = readdirSync(this.dir).filter((f) => /^step-\d+\.pth$/.test(f)).sort();
    for (const old of steps.slice(0, Math.max(steps.length - this.keepLast, 0))) unlinkSync(join(this.dir, old));
    return stepPath;
  }

  saveBest(engine: Engine): void {
    saveTorchFile(this.bestPath, withTiedCopies(engine.stateDict(), engine.head) as never);
  }

  loadLast(): LoadedCheckpoint {
    const path = this.lastPath;
    if (!existsSync(path)) throw new Error(`${path}: no checkpoint to resume from`);
    const obj = loadTorchFile(path) as Map<string, unknown>;
    if (obj.get('format') !== 'gradpool-last-v1') throw new Error(`${path}: not a gradpool resume checkpoint`);
    const opt = obj.get('optimizer') as Map<string, unknown>;
    const tensor = (k: string) => (opt.get(k) as { data: Float32Array }).data;
    return {
      model: stateDictOf(obj.get('model') as never, path),
      optimizer: { step: opt.get('step') as number, expAvg: tensor('exp_avg'), expAvgSq: tensor('exp_avg_sq') },
      state: JSON.parse(obj.get('trainer') as string) as TrainerState,
    };
  }

  loadBest(): StateDict {
    return stateDictOf(loadTorchFile(this.bestPath), this.bestPath);
  }
}

import { existsSync, linkSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { removeStaleTemporaries, temporaryName } from '../common/atomic-write.ts';
import type { Engine, OptimizerState } from '../engine/engine.ts';
import { parseTorchFile, saveTorchFile, stateDictOf, type FileDigest } from '../model/formats/torch-file.ts';
import { withTiedCopies } from '../model/model-head.ts';
import type { StateDict } from '../model/state-dict.ts';
import type { MetricName } from '../spec/job-spec.ts';
import { readVerifiedCheckpoint, updateManifest, type ManifestEntry } from './checkpoint-manifest.ts';

/** Where the loop is: what last.pth stores besides weights and moments. */
export interface TrainerState {
  stage: number;
  /** Optimizer steps completed in this stage. */
  step: number;
  /** Micro-batches this rank consumed in this stage (the data position, in slots of worldSize × micro_batch samples). */
  microCursor: number;
  /** The world size microCursor counts in (absent in checkpoints written before elastic runs: the resuming one). */
  worldSize?: number;
  /** Optimizer steps completed over all stages. */
  globalStep: number;
  best: { metric: MetricName; value: number; stage: number; step: number } | null;
  /** Evaluations since the best one (early-stopping patience). */
  badEvals: number;
  /** The lowest evaluation loss so far: an evaluation far above it means the run diverged. */
  lowestEvalLoss?: number;
  /** Divergence rollbacks done (each one skips the batches since its checkpoint). */
  rollbacks?: number;
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

/** A resume checkpoint and the newer ones that failed their checks on the way to it. */
export interface ResumePoint {
  checkpoint: LoadedCheckpoint;
  path: string;
  refused: Array<{ path: string; reason: string }>;
}

/** A checkpoint's model weights (best.pth, last.pth, step-N.pth), read only after its bytes verify. */
export function loadVerifiedStateDict(path: string): StateDict {
  return stateDictOf(parseTorchFile(readVerifiedCheckpoint(path).bytes, path), path);
}

/**
 * The run's checkpoints: last.pth (everything needed to resume), best.pth
 * (the best model's state dict only, loadable by BertForMaskedLM, or by
 * BertForSequenceClassification once a classification stage has run), and the
 * last `keepLast` periodic step-N.pth. Every file is written under a
 * temporary name, fsync'd and renamed (see writeFileAtomic), so a crash at
 * any point leaves the previous good file in place; its size and SHA-256 go
 * to manifest.json, and nothing is loaded before it matches.
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

  /** Temporaries of writers that died mid-write (kill -9 during a checkpoint): removed, names returned. */
  removeStaleTemporaries(): string[] {
    return removeStaleTemporaries(this.dir);
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
    const entry = (d: FileDigest): ManifestEntry => ({ ...d, step: state.globalStep, stage: state.stage, written: new Date().toISOString() });
    if (this.keepLast === 0) {
      updateManifest(this.dir, { 'last.pth': entry(saveTorchFile(this.lastPath, obj as never)) });
      return this.lastPath;
    }
    const stepPath = join(this.dir, `step-${String(state.globalStep).padStart(7, '0')}.pth`);
    const e = entry(saveTorchFile(stepPath, obj as never));
    // last.pth becomes a second name of the step file: atomic, and no second write.
    const tmp = temporaryName(this.lastPath);
    linkSync(stepPath, tmp);
    renameSync(tmp, this.lastPath);
    const steps = readdirSync(this.dir).filter((f) => /^step-\d+\.pth$/.test(f)).sort();
    const dropped = steps.slice(0, Math.max(steps.length - this.keepLast, 0));
    for (const old of dropped) unlinkSync(join(this.dir, old));
    updateManifest(this.dir, { [basename(stepPath)]: e, 'last.pth': e, ...Object.fromEntries(dropped.map((f) => [f, null])) });
    return stepPath;
  }

  saveBest(engine: Engine, at: { step: number; stage: number }): void {
    const d = saveTorchFile(this.bestPath, withTiedCopies(engine.stateDict(), engine.head) as never);
    updateManifest(this.dir, { 'best.pth': { ...d, ...at, written: new Date().toISOString() } });
  }

  /**
   * The newest checkpoint that verifies: last.pth, else the step files from
   * newest to oldest. Throws, listing each file and why, when none does.
   */
  loadResumable(): ResumePoint {
    const refused: ResumePoint['refused'] = [];
    for (const path of this.resumeCandidates()) {
      try {
        return { checkpoint: this.loadResumeFile(path), path, refused };
      } catch (e) {
        refused.push({ path, reason: (e as Error).message });
      }
    }
    if (refused.length === 0) throw new Error(`${this.lastPath}: no checkpoint to resume from`);
    throw new Error(`no checkpoint in ${this.dir} can be resumed from:\n  ${refused.map((r) => r.reason).join('\n  ')}`);
  }

  loadBest(): StateDict {
    return loadVerifiedStateDict(this.bestPath);
  }

  private resumeCandidates(): string[] {
    const steps = existsSync(this.dir) ? readdirSync(this.dir).filter((f) => /^step-\d+\.pth$/.test(f)).sort().reverse() : [];
    const last = existsSync(this.lastPath) ? [this.lastPath] : [];
    // last.pth is a second name of the newest step file: the same bytes need no second look.
    const lastIno = last.length ? statSync(this.lastPath).ino : -1;
    return [...last, ...steps.map((f) => join(this.dir, f)).filter((p) => statSync(p).ino !== lastIno)];
  }

  private loadResumeFile(path: string): LoadedCheckpoint {
    const obj = parseTorchFile(readVerifiedCheckpoint(path).bytes, path) as Map<string, unknown>;
    if (obj.get('format') !== 'gradpool-last-v1') throw new Error(`${path}: not a gradpool resume checkpoint`);
    const opt = obj.get('optimizer') as Map<string, unknown>;
    const tensor = (k: string) => (opt.get(k) as { data: Float32Array }).data;
    return {
      model: stateDictOf(obj.get('model') as never, path),
      optimizer: { step: opt.get('step') as number, expAvg: tensor('exp_avg'), expAvgSq: tensor('exp_avg_sq') },
      state: JSON.parse(obj.get('trainer') as string) as TrainerState,
    };
  }
}

import { TokenCache } from '../data/token-cache.ts';
import type { MaskingOptions } from '../data/masking.ts';
import type { Engine, GradientSyncReport } from '../engine/engine.ts';
import type { Job, StageSpec } from '../spec/job-spec.ts';
import { Checkpointer } from './checkpointer.ts';
import type { CheckpointMark } from './failures.ts';
import { chooseGradientPath, type GradientPath } from './engine-sync.ts';
import type { GradientSync } from './gradient-sync.ts';
import { TensorBoardWriter } from './metrics/tensorboard.ts';
import { RunLogger } from './run-logger.ts';
import { runPaths, type RunSpec } from './run-spec.ts';

/**
 * What every part of a run shares: the spec, the engine and the gradient
 * sync, and rank 0's writers (checkpoints, TensorBoard, the log file; null or
 * silent on the other ranks, which only train).
 */
export interface RunContext {
  spec: RunSpec;
  job: Job;
  engine: Engine;
  sync: GradientSync;
  rank0: boolean;
  paths: ReturnType<typeof runPaths>;
  log: RunLogger;
  ckpt: Checkpointer | null;
  tb: TensorBoardWriter | null;
  /** The MLM corpus' token caches, opened on first use (a classification-only run has none). */
  mlmCorpus(): { train: TokenCache; valid: TokenCache };
  /** Who sums the gradient: the engine during backward, or the trainer after it (engine-sync.ts). */
  gradientPath: GradientPath;
  /** The engine path's figures for the last step (overlap of communication with backward). */
  lastGradientSync: GradientSyncReport | null;
  /** The newest checkpoint (known to every rank; rank 0 wrote it), null before the first. */
  lastCheckpoint: CheckpointMark | null;
  maskingFor(stage: StageSpec): MaskingOptions;
}

export function openRunContext(spec: RunSpec, o: { engine: Engine; sync: GradientSync; logger?: RunLogger }): RunContext {
  const rank0 = o.sync.rank === 0;
  const paths = runPaths(spec.runDir);
  const log = o.logger ?? new RunLogger(rank0 ? paths.logs : null);
  let corpus: { train: TokenCache; valid: TokenCache } | undefined;
  const specials = new Set([spec.special.pad, spec.special.cls, spec.special.sep, spec.special.mask, spec.special.unk]);
  return {
    spec,
    job: spec.job,
    engine: o.engine,
    sync: o.sync,
    rank0,
    paths,
    log,
    ckpt: rank0 ? new Checkpointer(paths.checkpoints, spec.job.keep_last) : null,
    tb: rank0 ? new TensorBoardWriter(paths.tensorboard) : null,
    mlmCorpus: () => (corpus ??= { train: TokenCache.open(spec.trainCache, spec.cacheKey), valid: TokenCache.open(spec.validCache, spec.cacheKey) }),
    gradientPath: chooseGradientPath(o.engine, o.sync, { log: (l) => rank0 && log.say(l) }),
    lastGradientSync: null,
    lastCheckpoint: null,
    maskingFor: (s) => ({
      mlmProbability: s.mlm_probability,
      wholeWord: s.whole_word_mask,
      maskId: spec.special.mask,
      vocabSize: spec.modelConfig.vocab_size,
      specialIds: specials,
    }),
  };
}

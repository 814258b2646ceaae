import { BlockDataset } from '../../coordinator/data/blocks.ts';
import { TokenCache } from '../../coordinator/data/token-cache.ts';
import { HIGHER_IS_BETTER, type StageSpec } from '../../coordinator/job/job-spec.ts';
import { learningRateAt } from '../../coordinator/plan/lr-schedule.ts';
import { formatPlan, type StagePlan } from '../../coordinator/plan/plan-stages.ts';
import { Rng } from '../../common/rng.ts';
import type { MaskingOptions } from '../data/masking.ts';
import { EngineOutOfMemoryError } from '../engine/batch-outputs.ts';
import type { Engine } from '../engine/engine.ts';
import type { MlmMetrics } from '../metrics/mlm-metrics.ts';
import { TensorBoardWriter } from '../metrics/tensorboard.ts';
import { saveHfModel } from '../model/hf-folder.ts';
import { BatchBuilder } from './batches.ts';
import { Checkpointer, type TrainerState } from './checkpointer.ts';
import { evaluate } from './evaluator.ts';
import type { GradientSync } from './gradient-sync.ts';
import { RunLogger } from './run-logger.ts';
import { runPaths, type RunSpec } from './run-spec.ts';
import { mixSeed, SampleOrder } from './sample-order.ts';

export interface TrainOptions {
  engine: Engine;
  sync: GradientSync;
  /** Continue from checkpoints/last.pth. */
  resume: boolean;
  /** Called with each optimizer step's figures (the service forwards rank 0's as progress). */
  onStep?: (s: StepReport) => void;
  /** Checked between micro-batches; true = stop after checkpointing (cancel, SIGTERM). */
  shouldStop?: () => boolean;
  /** Stop after this many optimizer steps of this invocation (tests, benchmarks). */
  stepLimit?: number;
  logger?: RunLogger;
}

export interface StepReport {
  stage: number;
  step: number;
  maxSteps: number;
  globalStep: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Wall time of this optimizer step. */
  seconds: number;
  tokensPerSec: number;
  etaSec: number;
  eval?: MlmMetrics;
}

export interface TrainResult {
  state: TrainerState;
  /** Per stage, the evaluation before its first step (stage 0 only when not resumed) and after its last. */
  firstEval: MlmMetrics | null;
  lastEval: MlmMetrics | null;
  losses: number[];
  stepSeconds: number[];
  bestPath: string | null;
  lastPath: string | null;
}

export class TrainingError extends Error {}

/**
 * The training loop every rank runs (nanoGPT-shaped): for each stage, for
 * each optimizer step, `accumulation` micro-batches of forward/backward with
 * no communication, one all-reduce of the summed gradients and masked-token
 * counts, then the identical AdamW step on every rank. The loss is the mean
 * over the masked tokens of the whole global batch: each rank backpropagates
 * the *sum* of its token losses and the optimizer scales the all-reduced sum
 * by 1 / (masked tokens over all ranks and micro-batches), so 1 rank and N
 * ranks compute the same update. Rank 0 alone evaluates, logs and writes.
 */
export async function trainRun(spec: RunSpec, o: TrainOptions): Promise<TrainResult> {
  const { engine, sync } = o;
  const rank0 = sync.rank === 0;
  const job = spec.job;
  const paths = runPaths(spec.runDir);
  const log = o.logger ?? new RunLogger(rank0 ? paths.logs : null);
  const ckpt = rank0 ? new Checkpointer(paths.checkpoints, job.keep_last) : null;
  const tb = rank0 ? new TensorBoardWriter(paths.tensorboard) : null;
  const train = TokenCache.open(spec.trainCache, spec.cacheKey);
  const valid = TokenCache.open(spec.validCache, spec.cacheKey);
  const specials = new Set([spec.special.pad, spec.special.cls, spec.special.sep, spec.special.mask, spec.special.unk]);
  const maskingFor = (s: StageSpec): MaskingOptions => ({
    mlmProbability: s.mlm_probability,
    wholeWord: s.whole_word_mask,
    maskId: spec.special.mask,
    vocabSize: spec.modelConfig.vocab_size,
    specialIds: specials,
  });

  let state: TrainerState = {
    stage: 0,
    step: 0,
    microCursor: 0,
    globalStep: 0,
    best: null,
    badEvals: 0,
    engineRng: new Rng(mixSeed(job.seed, 0xd0, sync.rank)).state(),
    finished: false,
    stopReason: null,
  };
  if (o.resume) {
    // Every rank reads last.pth (it is on the run folder all ranks share); only rank 0 wrote it.
    const c = new Checkpointer(paths.checkpoints, job.keep_last).loadLast();
    engine.loadStateDict(c.model, paths.last);
    engine.loadOptimizerState(c.optimizer);
    state = c.state;
    log.say(`resumed from ${paths.last}: stage ${state.stage}, step ${state.step}, ${state.globalStep} steps in all`);
  } else {
    // Identical replicas: rank 0's initial weights everywhere.
    if (sync.worldSize > 1) {
      const flat = engine.parameters();
      await sync.broadcast(flat, 0);
      engine.setParameters(flat);
    }
  }
  engine.setRngState(o.resume ? state.engineRng : new Rng(mixSeed(job.seed, 0xd0, sync.rank)).state());

  const result: TrainResult = { state, firstEval: null, lastEval: null, losses: [], stepSeconds: [], bestPath: null, lastPath: null };
  const grads = engine.gradients();
  // [loss sum, masked tokens, real tokens, stop requested]: one small all-reduce per step.
  const stats = new Float32Array(4);
  let stepsThisCall = 0;
  const started = performance.now();

  const runEval = async (plan: StagePlan, stage: StageSpec): Promise<MlmMetrics | null> => {
    if (!rank0) return null;
    const t0 = performance.now();
    let m: MlmMetrics;
    try {
      m = await evaluate(engine, new BlockDataset(valid, plan.seqLen, spec.special), maskingFor(stage), {
        seed: job.seed,
        microBatch: plan.microBatch,
        maxSamples: stage.max_eval_samples,
      });
    } catch (e) {
      const where = `stage ${plan.stage} evaluation at step ${state.step}: out of memory in a batch of ${plan.microBatch} × ${plan.seqLen} tokens`;
      throw explainOom(e as Error, where, plan, ckpt?.lastPath ?? null);
    }
    tb!.scalars(state.globalStep, Object.fromEntries(Object.entries(m).map(([k, v]) => [`eval/${k}`, v])));
    log.event(
      'eval',
      { stage: plan.stage, step: state.step, globalStep: state.globalStep, seconds: (performance.now() - t0) / 1000, ...m },
      `eval stage ${plan.stage} step ${state.step}: loss ${m.loss.toFixed(4)} ppl ${m.perplexity.toFixed(2)} ` +
        `acc ${(m.masked_accuracy * 100).toFixed(2)}% top10 ${(m.top10_accuracy * 100).toFixed(2)}% ` +
        `all-tokens ${(m.all_tokens_accuracy * 100).toFixed(2)}% F1 ${m.f1.toFixed(4)}`,
    );
    return m;
  };

  /** Rank 0 updates best.pth and early stopping; every rank learns the verdict. */
  const judge = async (m: MlmMetrics | null, plan: StagePlan): Promise<string | null> => {
    let reason: string | null = null;
    if (m) {
      const es = job.early_stopping;
      const v = m[es.metric];
      const higher = HIGHER_IS_BETTER[es.metric];
      if (state.best === null || (higher ? v > state.best.value : v < state.best.value)) {
        state.best = { metric: es.metric, value: v, stage: plan.stage, step: state.step };
        state.badEvals = 0;
        ckpt!.saveBest(engine);
        result.bestPath = ckpt!.bestPath;
      } else {
        state.badEvals++;
      }
      if (es.target !== null && (higher ? v >= es.target : v <= es.target)) reason = `target ${es.metric} ${es.target} reached (${v})`;
      else if (es.patience > 0 && state.badEvals >= es.patience) reason = `no ${es.metric} improvement in ${es.patience} evaluations`;
    }
    if (sync.worldSize > 1) {
      const flag = new Float32Array([reason ? 1 : 0]);
      await sync.broadcast(flag, 0);
      if (flag[0] && !reason) reason = 'early stop (decided by rank 0)';
    }
    return reason;
  };

  const checkpoint = () => {
    if (!rank0) return;
    state.engineRng = engine.rngState();
    result.lastPath = ckpt!.saveLast(engine, state);
  };

  while (state.stage < spec.plans.length && !state.finished) {
    const plan = spec.plans[state.stage]!;
    const stage = job.stages[state.stage]!;
    const blocks = new BlockDataset(train, plan.seqLen, spec.special);
    if (blocks.length !== plan.totalSamples) {
      throw new TrainingError(`stage ${plan.stage}: the token cache gives ${blocks.length} samples, the plan ${plan.totalSamples}`);
    }
    const order = new SampleOrder(plan, job.seed, sync.rank);
    const builder = new BatchBuilder(blocks, maskingFor(stage), job.seed);
    if (state.step === 0 && state.microCursor === 0) {
      // A stage starts from the previous stage's weights with a fresh optimizer, like a new Trainer run.
      engine.loadOptimizerState({ step: 0, expAvg: new Float32Array(engine.numParams), expAvgSq: new Float32Array(engine.numParams) });
      const e = engine.info;
      if (rank0) log.say(formatPlan(plan, `${e.engine}/${e.backend} (${e.device}, ${e.dtype}, ${e.threads} thread${e.threads === 1 ? '' : 's'})`));
      log.event('plan', { ...plan, engine: e });
      const m = await runEval(plan, stage);
      if (plan.stage === 0 && m) result.firstEval = m;
    }
    let stageStart = performance.now();
    let stepsTimed = 0;
    let stop: string | null = null;
    let paused = false;
    while (state.step < plan.maxSteps && stop === null && !paused) {
      const t0 = performance.now();
      engine.zeroGrad();
      stats.fill(0);
      for (let a = 0; a < plan.accumulation; a++) {
        const { epoch, samples } = order.microBatch(state.microCursor);
        const batch = builder.build(samples, plan.stage, epoch);
        let r;
        try {
          r = await engine.forwardBackward(batch, true);
        } catch (e) {
          throw explainStepFailure(e as Error, plan, state, ckpt?.lastPath ?? null);
        }
        state.microCursor++;
        stats[0] += r.lossSum;
        stats[1] += r.maskedTokens;
        for (let i = 0; i < batch.attentionMask.length; i++) stats[2] += batch.attentionMask[i]!;
      }
      stats[3] = o.shouldStop?.() ? 1 : 0;
      await sync.allReduceSum(stats);
      await sync.allReduceSum(grads);
      const lr = learningRateAt(state.step, {
        peak: stage.learning_rate,
        warmup: plan.warmupSteps,
        annealing: plan.annealingSteps,
        schedule: stage.schedule,
        minRatio: stage.min_lr_ratio,
      });
      const { gradNorm } = await engine.optimizerStep({
        lr,
        beta1: stage.adam_beta1,
        beta2: stage.adam_beta2,
        eps: stage.adam_epsilon,
        weightDecay: stage.weight_decay,
        maxGradNorm: stage.max_grad_norm,
        gradScale: stats[1]! > 0 ? 1 / stats[1]! : 0,
      });
      const loss = stats[1]! > 0 ? stats[0]! / stats[1]! : NaN;
      if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
        throw new TrainingError(
          `stage ${plan.stage} step ${state.step + 1}: ${!Number.isFinite(loss) ? `loss is ${loss}` : `gradient norm is ${gradNorm}`}; ` +
            `the run stopped without applying it. Last good checkpoint: ${ckpt?.lastPath ?? 'none yet'}. ` +
            `Try a lower learning_rate or max_grad_norm, then \`gradpool train --resume ${spec.runDir}\`.`,
        );
      }
      state.step++;
      state.globalStep++;
      stepsThisCall++;
      stepsTimed++;
      const sec = (performance.now() - t0) / 1000;
      result.losses.push(loss);
      result.stepSeconds.push(sec);
      const avgStep = (performance.now() - stageStart) / 1000 / stepsTimed;
      const report: StepReport = {
        stage: plan.stage,
        step: state.step,
        maxSteps: plan.maxSteps,
        globalStep: state.globalStep,
        loss,
        lr,
        gradNorm,
        seconds: sec,
        tokensPerSec: stats[2]! / sec,
        etaSec: avgStep * (plan.maxSteps - state.step),
      };
      if (rank0) {
        tb!.scalars(state.globalStep, { 'train/loss': loss, 'train/lr': lr, 'train/grad_norm': gradNorm, 'train/tokens_per_s': report.tokensPerSec });
        log.event('step', { ...report });
        if (state.step % stage.log_interval === 0 || state.step === plan.maxSteps) log.progress(report);
      }
      if (stage.eval_interval > 0 && state.step % stage.eval_interval === 0 && state.step < plan.maxSteps) {
        const m = await runEval(plan, stage);
        if (m) report.eval = result.lastEval = m;
        stop = await judge(m, plan);
        checkpoint();
        stageStart = performance.now();
        stepsTimed = 0;
      } else if (stage.checkpoint_interval > 0 && state.step % stage.checkpoint_interval === 0) {
        checkpoint();
      }
      o.onStep?.(report);
      // Let the event loop run once a step (IPC stop requests, timers) even when nothing else awaits I/O.
      await new Promise((r) => setImmediate(r));
      if (stats[3]! > 0 || (o.stepLimit !== undefined && stepsThisCall >= o.stepLimit)) paused = true;
    }
    if (paused) {
      checkpoint();
      state.stopReason = stats[3]! > 0 ? 'stopped on request' : 'step limit';
      log.event('pause', { reason: state.stopReason, stage: state.stage, step: state.step }, `run paused (${state.stopReason}); resume with --resume`);
      break;
    }
    if (stop === null) {
      const m = await runEval(plan, stage);
      if (m) result.lastEval = m;
      stop = await judge(m, plan);
    }
    if (stop === null && state.stage + 1 < spec.plans.length) {
      state.stage++;
      state.step = 0;
      state.microCursor = 0;
      checkpoint();
      continue;
    }
    state.finished = true;
    state.stopReason = stop ?? 'all stages done';
    checkpoint();
    if (rank0) log.event('end', { reason: state.stopReason, best: state.best }, `run ended: ${state.stopReason}`);
  }
  if (rank0 && state.finished && state.best) {
    saveHfModel(paths.hf, spec.modelConfig, ckpt!.loadBest(), spec.tokenizerDir);
  }
  tb?.close();
  result.state = state;
  log.event('done', { seconds: (performance.now() - started) / 1000, steps: stepsThisCall });
  return result;
}

function explainStepFailure(e: Error, plan: StagePlan, state: TrainerState, lastCheckpoint: string | null): Error {
  const where =
    `stage ${plan.stage} step ${state.step + 1}: out of memory in micro-batch ${(state.microCursor % plan.accumulation) + 1} of ` +
    `${plan.accumulation} (${plan.microBatch} × ${plan.seqLen} tokens)`;
  return explainOom(e, where, plan, lastCheckpoint);
}

/** An engine's out-of-memory (each engine recognises its own wording) as a TrainingError with the fix. */
function explainOom(e: Error, where: string, plan: StagePlan, lastCheckpoint: string | null): Error {
  if (!(e instanceof EngineOutOfMemoryError)) return e;
  const smaller = plan.microBatch > 1 ? Math.floor(plan.microBatch / 2) : 1;
  return new TrainingError(
    `${where}: ${e.message}. ` +
      `Try micro_batch ${smaller} with the same global_batch ${plan.globalBatch} (accumulation grows to keep the same update). ` +
      `Last good checkpoint: ${lastCheckpoint ?? 'none yet'}.`,
  );
}

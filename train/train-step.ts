import { learningRateAt } from '../spec/lr-schedule.ts';
import type { TrainerState } from './checkpointer.ts';
import { explainStepFailure } from './failures.ts';
import type { EvalMetrics } from './metrics/eval-metrics.ts';
import type { RunContext } from './run-context.ts';
import type { StageContext } from './stage-context.ts';

/**
 * Where an optimizer step's wall time went, in seconds (torchtitan's split):
 * building micro-batches (masking, padding), forward+backward, the two
 * all-reduces, the AdamW step, and writing a checkpoint after the step (0 when none;
 * the log's step record is written before the checkpoint, so only onStep sees it).
 */
export interface StepTimings {
  data: number;
  forwardBackward: number;
  allReduce: number;
  optimizer: number;
  checkpoint: number;
}

/** One optimizer step's figures: logged, sent as progress, kept in the result. */
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
  /** Real tokens of the global batch (all ranks) per second of this step. */
  tokensPerSec: number;
  /** Sequences (or labelled examples) of the global batch per second of this step. */
  samplesPerSec: number;
  etaSec: number;
  timings: StepTimings;
  eval?: EvalMetrics;
}

/** Average step time since the stage started or since the last evaluation (which would skew it). */
export class EtaClock {
  private since = performance.now();
  private steps = 0;
  tick(): number {
    this.steps++;
    return (performance.now() - this.since) / 1000 / this.steps;
  }
  reset(): void {
    this.since = performance.now();
    this.steps = 0;
  }
}

/**
 * One optimizer step on every rank: `accumulation` micro-batches of
 * forward/backward with no communication, each backpropagating the *sum* of
 * its losses (masked tokens, or labelled sequences weighted by class); one
 * all-reduce of [loss sum, count, tokens, stop requested] and one of the flat
 * gradient (or, on the engine path, the engine's bucketed all-reduces started
 * during the last micro-batch's backward); then the identical AdamW step with gradScale = 1 / (the global
 * batch's count: masked tokens, or the sum of its labels' class weights), so
 * the update is the same for 1 rank or N. Advances `state`; a step whose
 * loss or gradient is not finite is not applied, not counted, and reported
 * as `invalid` (the engines skip such an update).
 */
export async function trainStep(
  run: RunContext,
  s: StageContext,
  state: TrainerState,
  stopRequested: boolean,
  clock: EtaClock,
): Promise<{ report: StepReport; stopRequested: boolean; invalid: string | null }> {
  const { engine, sync } = run;
  const { plan, stage } = s;
  const t0 = performance.now();
  engine.zeroGrad();
  // [loss sum, count (masked tokens / class-weight sum), real tokens, stop requested]: one small all-reduce per step.
  const stats = new Float32Array(4);
  const timings: StepTimings = { data: 0, forwardBackward: 0, allReduce: 0, optimizer: 0, checkpoint: 0 };
  const engineSync = run.gradientPath === 'engine';
  for (let a = 0; a < plan.accumulation; a++) {
    const tm = performance.now();
    // Engine path: only the last micro-batch's backward communicates (its buckets, as they fill).
    if (engineSync && a === plan.accumulation - 1) engine.collectives!.armGradientSync();
    const { epoch, samples } = s.order.microBatch(state.microCursor);
    let r;
    try {
      r = await s.task.microStep(engine, samples, epoch);
    } catch (e) {
      throw explainStepFailure(e as Error, plan, state, run.ckpt?.lastPath ?? null);
    }
    // The task builds the batch (masking, padding) inside microStep and says how long that took.
    const micro = (performance.now() - tm) / 1000;
    const data = Math.min(micro, r.dataSeconds);
    timings.data += data;
    timings.forwardBackward += micro - data;
    state.microCursor++;
    stats[0] += r.lossSum;
    stats[1] += r.count;
    stats[2] += r.tokens;
  }
  stats[3] = stopRequested ? 1 : 0;
  const tr = performance.now();
  if (engineSync) {
    // gradientSync() submits any bucket backward did not before it returns, so the gradient's
    // collectives precede the stats' on every rank; both are then awaited together.
    const [report] = await Promise.all([engine.collectives!.gradientSync(), sync.allReduceSum(stats)]);
    run.lastGradientSync = report;
  } else {
    await sync.allReduceSum(stats);
    // The engine's flat gradient buffer (the same array every call; a new model brings a new one).
    // Asked for only here: on CUDA it is a pinned host mirror, which the engine path never needs.
    if (sync.worldSize > 1) await sync.allReduceSum(engine.gradients());
  }
  timings.allReduce = (performance.now() - tr) / 1000;
  const lr = learningRateAt(state.step, {
    peak: stage.learning_rate,
    warmup: plan.warmupSteps,
    annealing: plan.annealingSteps,
    schedule: stage.schedule,
    minRatio: stage.min_lr_ratio,
  });
  const to = performance.now();
  const { gradNorm } = await engine.optimizerStep({
    lr,
    beta1: stage.adam_beta1,
    beta2: stage.adam_beta2,
    eps: stage.adam_epsilon,
    weightDecay: stage.weight_decay,
    maxGradNorm: stage.max_grad_norm,
    gradScale: stats[1]! > 0 ? 1 / stats[1]! : 0,
  });
  timings.optimizer = (performance.now() - to) / 1000;
  const loss = stats[1]! > 0 ? stats[0]! / stats[1]! : NaN;
  const invalid = !Number.isFinite(loss) ? `the loss is ${loss}` : !Number.isFinite(gradNorm) ? `the gradient norm is ${gradNorm}` : null;
  if (!invalid) {
    state.step++;
    state.globalStep++;
  }
  const seconds = (performance.now() - t0) / 1000;
  // An invalid step is reported as the step it would have been.
  const report: StepReport = {
    stage: plan.stage,
    step: state.step + (invalid ? 1 : 0),
    maxSteps: plan.maxSteps,
    globalStep: state.globalStep + (invalid ? 1 : 0),
    loss,
    lr,
    gradNorm,
    seconds,
    tokensPerSec: stats[2]! / seconds,
    samplesPerSec: plan.globalBatch / seconds,
    etaSec: clock.tick() * (plan.maxSteps - state.step),
    timings,
  };
  return { report, stopRequested: stats[3]! > 0, invalid };
}

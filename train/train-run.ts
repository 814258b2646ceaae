import { Rng } from '../common/rng.ts';
import type { Engine } from '../engine/engine.ts';
import { formatPlan } from '../spec/plan-stages.ts';
import { saveHfModel } from '../model/hf-folder.ts';
import { classifierConfigFields, headOfStateDict, type ModelHead } from '../model/model-head.ts';
import { Checkpointer, type LoadedCheckpoint, type ResumePoint, type TrainerState } from './checkpointer.ts';
import { DivergenceGuard } from './divergence-guard.ts';
import { divergedError } from './failures.ts';
import { evaluateAndJudge, evaluateOnRank0 } from './evaluate-and-judge.ts';
import type { GradientSync } from './gradient-sync.ts';
import type { EvalMetrics } from './metrics/eval-metrics.ts';
import { agreeGradientPath } from './engine-sync.ts';
import { openRunContext, type RunContext } from './run-context.ts';
import type { RunLogger } from './run-logger.ts';
import type { RunSpec } from './run-spec.ts';
import { mixSeed } from './sample-order.ts';
import { recordRunOutcome } from './saved-params.ts';
import { enterStageModel, stageHead } from './stage-model.ts';
import { openStageContext, type StageContext } from './stage-context.ts';
import { EtaClock, trainStep, type StepReport } from './train-step.ts';

export { TrainingError } from './failures.ts';
export type { StepReport } from './train-step.ts';

export interface TrainOptions {
  engine: Engine;
  sync: GradientSync;
  /** Continue from checkpoints/last.pth. */
  resume: boolean;
  /** Called with each optimizer step's figures (the service forwards rank 0's as progress). */
  onStep?: (s: StepReport) => void;
  /** Checked once a step; true = stop after checkpointing (cancel, SIGTERM). */
  shouldStop?: () => boolean;
  /** Stop after this many optimizer steps of this invocation (tests, benchmarks). */
  stepLimit?: number;
  logger?: RunLogger;
  /** Why this invocation resumes (the log's `resume` record); default "resume requested". */
  resumeReason?: string;
  /** How this invocation's start went (the service's phases, in seconds): rank 0 logs it as the `startup` record. */
  startup?: Record<string, number | boolean>;
}

export interface TrainResult {
  state: TrainerState;
  /** Per stage, the evaluation before its first step (stage 0 only when not resumed) and after its last. */
  firstEval: EvalMetrics | null;
  lastEval: EvalMetrics | null;
  losses: number[];
  stepSeconds: number[];
  bestPath: string | null;
  lastPath: string | null;
}

/** Why a stage's step loop ended. */
type StageEnd = { kind: 'paused'; reason: string } | { kind: 'stopped'; reason: string } | { kind: 'completed' };

/**
 * The training loop every rank runs (nanoGPT-shaped, torchtitan's
 * train()/train_step() split): for each stage, trainStep() until the plan's
 * max steps, with evaluations (evaluateAndJudge) and checkpoints at their
 * intervals; between stages the weights carry over (a classification stage
 * puts its head on the encoder: stage-model.ts) and the optimizer starts
 * fresh. An early stop ends the stages of its task: a later stage of another
 * task still runs. Rank 0 alone evaluates, logs and writes.
 */
export async function trainRun(spec: RunSpec, o: TrainOptions): Promise<TrainResult> {
  const run = openRunContext(spec, o);
  if (run.rank0 && o.startup) run.log.event('startup', o.startup, `started: ${describeStartup(o.startup)}`);
  run.gradientPath = await agreeGradientPath(run.engine, run.sync, run.gradientPath, (l) => run.rank0 && run.log.say(l));
  const started = performance.now();
  const removed = run.ckpt?.removeStaleTemporaries() ?? [];
  if (removed.length) run.log.say(`removed ${removed.length} temporary file(s) of interrupted checkpoint writes: ${removed.join(', ')}`);
  const state = o.resume ? resumedState(run, o.resumeReason ?? 'resume requested') : await freshState(run);
  run.engine.setRngState(state.engineRng);
  const result: TrainResult = { state, firstEval: null, lastEval: null, losses: [], stepSeconds: [], bestPath: null, lastPath: null };
  const budget = { steps: 0, limit: o.stepLimit ?? Infinity };
  try {
    while (state.stage < spec.plans.length && !state.finished) {
      const end = await trainStage(run, openStageContext(run, state.stage), state, result, o, budget);
      if (end.kind === 'paused') {
        state.stopReason = end.reason;
        checkpoint(run, state, result);
        run.log.event('pause', { reason: state.stopReason, stage: state.stage, step: state.step }, `run paused (${state.stopReason}); resume with --resume`);
        break;
      }
      const next = end.kind === 'completed' ? state.stage + 1 : nextTaskStage(spec, state.stage);
      if (next < spec.plans.length) {
        if (end.kind === 'stopped') run.log.say(`stage ${state.stage}: ${end.reason}; on to stage ${next} (${spec.job.stages[next]!.task})`);
        state.stage = next;
        state.step = 0;
        state.microCursor = 0;
        checkpoint(run, state, result);
        continue;
      }
      state.finished = true;
      state.stopReason = end.kind === 'stopped' ? end.reason : 'all stages done';
      checkpoint(run, state, result);
      if (run.rank0) run.log.event('end', { reason: state.stopReason, best: state.best }, `run ended: ${state.stopReason}`);
    }
  } catch (e) {
    if (run.rank0) run.log.event('failed', { reason: (e as Error).message, stage: state.stage, step: state.step, globalStep: state.globalStep, stack: (e as Error).stack });
    run.tb?.close();
    throw e;
  }
  if (run.rank0 && state.best) result.bestPath = run.ckpt!.bestPath;
  // A paused run exports too: a cancelled run's producer gets its best model as a Hugging Face folder.
  if (run.rank0 && state.best) exportBest(run, state);
  if (run.rank0) recordRunOutcome(spec, run.engine.info, { final_metrics: result.lastEval, best: state.best, stop_reason: state.stopReason, finished: state.finished });
  run.tb?.close();
  run.log.event('done', { seconds: (performance.now() - started) / 1000, steps: budget.steps });
  return result;
}

/** A startup record as one line: `queued 0.02 s, prepare 0.15 s, …, warm rank process true`. */
export function describeStartup(phases: Record<string, number | boolean>): string {
  return Object.entries(phases)
    .map(([k, v]) => (typeof v === 'number' && k.endsWith('_s') ? `${k.slice(0, -2).replace(/_/g, ' ')} ${v.toFixed(2)} s` : `${k.replace(/_/g, ' ')} ${v}`))
    .join(', ');
}

/** The first stage after `stage` whose task differs (where an early stop goes on), or past the end. */
function nextTaskStage(spec: RunSpec, stage: number): number {
  const task = spec.job.stages[stage]!.task;
  const i = spec.job.stages.findIndex((s, k) => k > stage && s.task !== task);
  return i < 0 ? spec.plans.length : i;
}

/** hf/: the best model as a Hugging Face folder (a classifier's config with id2label/label2id). */
function exportBest(run: RunContext, state: TrainerState): void {
  const best = run.ckpt!.loadBest();
  const stage = run.job.stages[state.best!.stage]!;
  const labels = run.spec.classification[state.best!.stage]?.labels;
  const extra = headOfStateDict(best).kind === 'classification' && labels ? classifierConfigFields(labels, stage.classifier_dropout) : {};
  saveHfModel(run.paths.hf, run.spec.modelConfig, best, run.spec.tokenizerDir, extra);
}

/** A new run: rank 0's initial weights on every rank (identical replicas). */
async function freshState(run: RunContext): Promise<TrainerState> {
  if (run.sync.worldSize > 1) {
    const flat = run.engine.parameters();
    await run.sync.broadcast(flat, 0);
    run.engine.setParameters(flat);
  }
  return {
    stage: 0,
    step: 0,
    microCursor: 0,
    worldSize: run.sync.worldSize,
    globalStep: 0,
    best: null,
    badEvals: 0,
    engineRng: new Rng(mixSeed(run.job.seed, 0xd0, run.sync.rank)).state(),
    finished: false,
    stopReason: null,
  };
}

/**
 * The newest checkpoint that verifies, loaded into the engine (every rank
 * reads it from the shared run folder; rank 0 wrote it). The log gets a
 * `resume` record and TensorBoard a restart marker, so steps redone after it
 * replace the ones logged before: readers show the current line.
 */
function loadResumePoint(run: RunContext, reason: string): ResumePoint {
  const p = (run.ckpt ?? new Checkpointer(run.paths.checkpoints, run.job.keep_last)).loadResumable();
  for (const r of p.refused) run.log.say(`checkpoint refused: ${r.reason}`);
  if (p.refused.length) run.log.say(`resuming from ${p.path} instead (the newest checkpoint that verifies)`);
  run.engine.setModel(resumedHead(run.spec, p.checkpoint), p.checkpoint.model, p.path);
  run.engine.loadOptimizerState(p.checkpoint.optimizer);
  const c = p.checkpoint.state;
  run.lastCheckpoint = { path: p.path, globalStep: c.globalStep };
  run.log.event(
    'resume',
    { fromGlobalStep: c.globalStep, stage: c.stage, step: c.step, checkpoint: p.path, reason, refused: p.refused },
    `resumed from ${p.path}: stage ${c.stage}, step ${c.step}, ${c.globalStep} steps in all (${reason})`,
  );
  run.tb?.restartAt(c.globalStep + 1, p.path);
  return p;
}

function resumedState(run: RunContext, reason: string): TrainerState {
  return atWorldSize(run, loadResumePoint(run, reason).checkpoint.state);
}

/**
 * An elastic resume: the checkpoint's data position re-counted for this
 * world size. Slot j of a stage covers samples [j·W·μ, (j+1)·W·μ) of the
 * epoch's order, so the position in samples, microCursor·W·μ, stays the
 * same: with the plan's accumulation re-derived for W (global batch fixed),
 * the next optimizer step reads the same global batch as it would have at the
 * old size, and the learning-rate schedule counts the same steps.
 */
function atWorldSize(run: RunContext, state: TrainerState): TrainerState {
  const to = run.sync.worldSize;
  const from = state.worldSize ?? to;
  if (from === to) run.log.event('world-size', { from, to, stage: state.stage, step: state.step, globalStep: state.globalStep }, `world size ${to} from stage ${state.stage} step ${state.step + 1}`);
  else {
    const samples = state.microCursor * from;
    if (samples % to !== 0) throw new Error(`resume at world size ${to}: the checkpoint's data position (${state.microCursor} micro-batches at world size ${from}) is not a whole number of micro-batches at ${to}`);
    const plan = run.spec.plans[state.stage];
    run.log.event(
      'world-size',
      { from, to, stage: state.stage, step: state.step, globalStep: state.globalStep, microCursor: { from: state.microCursor, to: samples / to }, accumulation: plan?.accumulation },
      `world size ${from} → ${to} from stage ${state.stage} step ${state.step + 1}: accumulation ${plan?.accumulation}, the same global batches`,
    );
    state.microCursor = samples / to;
  }
  state.worldSize = to;
  return state;
}

/** The checkpoint's model: its stage's, or (saved between two stages) the previous stage's, which beginStage then hands over. */
function resumedHead(spec: RunSpec, c: LoadedCheckpoint): ModelHead {
  const saved = headOfStateDict(c.model);
  const stage = stageHead(spec, c.state.stage);
  const same = saved.kind === stage.kind && (saved.kind === 'mlm' || (stage.kind === 'classification' && saved.numLabels === stage.numLabels));
  return same ? stage : saved;
}

/**
 * The current stage's steps from where `state` is, with evaluations and
 * checkpoints at their intervals; ends at the plan's last step (after a
 * final evaluation), at an early stop, or paused (stop request, step budget).
 * A divergence fails the run or rolls it back (see onDivergence).
 */
async function trainStage(
  run: RunContext,
  s: StageContext,
  state: TrainerState,
  result: TrainResult,
  o: TrainOptions,
  budget: { steps: number; limit: number },
): Promise<StageEnd> {
  const { plan, stage } = s;
  if (state.step === 0 && state.microCursor === 0) await beginStage(run, s, state, result);
  const clock = new EtaClock();
  const guard = new DivergenceGuard(run.job.divergence, Math.log(s.task.numClasses));
  let checkpointDue = false;
  while (state.step < plan.maxSteps) {
    const { report, stopRequested, invalid } = await trainStep(run, s, state, o.shouldStop?.() ?? false, clock);
    budget.steps++;
    const diverged = invalid ?? guard.observe(report.loss);
    if (!invalid) {
      result.losses.push(report.loss);
      result.stepSeconds.push(report.seconds);
      if (run.rank0) logStep(run, stage.log_interval, report);
    }
    if (diverged) {
      onDivergence(run, s, state, diverged, guard, clock);
      continue;
    }
    let stop: string | null = null;
    checkpointDue ||= stage.checkpoint_interval > 0 && state.step % stage.checkpoint_interval === 0;
    if (stage.eval_interval > 0 && state.step % stage.eval_interval === 0 && state.step < plan.maxSteps) {
      const v = await evaluateAndJudge(run, s, state);
      if (v.diverged) {
        onDivergence(run, s, state, v.diverged, guard, clock);
        continue;
      }
      if (v.metrics) report.eval = result.lastEval = v.metrics;
      stop = v.stop;
      checkpointDue = true;
      clock.reset();
    }
    // Never checkpoint weights the guard suspects: the last good checkpoint must be good.
    if (checkpointDue && !guard.suspicious) {
      const tc = performance.now();
      checkpoint(run, state, result);
      report.timings.checkpoint = (performance.now() - tc) / 1000;
      checkpointDue = false;
    }
    o.onStep?.(report);
    // Let the event loop run once a step (IPC stop requests, timers) even when nothing else awaits I/O.
    await new Promise((r) => setImmediate(r));
    if (stopRequested) return { kind: 'paused', reason: 'stopped on request' };
    if (budget.steps >= budget.limit) return { kind: 'paused', reason: 'step limit' };
    if (stop !== null) return { kind: 'stopped', reason: stop };
  }
  return finishStage(run, s, state, result);
}

/** The stage's closing evaluation: the run never ends on a diverged one. */
async function finishStage(run: RunContext, s: StageContext, state: TrainerState, result: TrainResult): Promise<StageEnd> {
  const v = await evaluateAndJudge(run, s, state);
  if (v.diverged) throw divergedError(s.plan, state, v.diverged, run.lastCheckpoint, run.spec.runDir, ' in the stage\'s final evaluation');
  if (v.metrics) result.lastEval = v.metrics;
  return v.stop === null ? { kind: 'completed' } : { kind: 'stopped', reason: v.stop };
}

/**
 * A diverged run: FAILED with the step and the last good checkpoint named, or
 * (divergence.action "rollback", once per run) back to that checkpoint with
 * the batches read since it skipped. Every rank decides alike: the step loss
 * is all-reduced and an evaluation verdict broadcast.
 */
function onDivergence(run: RunContext, s: StageContext, state: TrainerState, reason: string, guard: DivergenceGuard, clock: EtaClock): void {
  const rollbacks = state.rollbacks ?? 0;
  if (run.job.divergence.action !== 'rollback' || rollbacks >= 1 || !run.lastCheckpoint) {
    const note = rollbacks > 0 ? ' (after a rollback already skipped the batches that first diverged)' : '';
    throw divergedError(s.plan, state, reason, run.lastCheckpoint, run.spec.runDir, note);
  }
  const from = state.microCursor;
  const p = loadResumePoint(run, `rollback: ${reason} at stage ${s.plan.stage} step ${state.step + 1}`);
  const skipped = { from: p.checkpoint.state.microCursor, to: from };
  Object.assign(state, p.checkpoint.state, { microCursor: from, rollbacks: rollbacks + 1 });
  run.engine.setRngState(state.engineRng);
  run.log.event('rollback', { stage: s.plan.stage, skippedMicroBatches: skipped }, `skipping micro-batches ${skipped.from}–${skipped.to - 1} of stage ${s.plan.stage} once`);
  guard.reset();
  clock.reset();
}

/**
 * A stage starts from the previous stage's weights (a classification stage
 * with its head put on: a new model's best and evaluation history start
 * afresh) with a fresh optimizer (like a new Trainer run), its plan shown and
 * a first evaluation.
 */
async function beginStage(run: RunContext, s: StageContext, state: TrainerState, result: TrainResult): Promise<void> {
  const { engine } = run;
  if (await enterStageModel(run.spec, s.plan.stage, engine, run.sync)) {
    state.best = null;
    state.badEvals = 0;
    state.lowestEvalLoss = undefined;
  }
  engine.loadOptimizerState({ step: 0, expAvg: new Float32Array(engine.numParams), expAvgSq: new Float32Array(engine.numParams) });
  const e = engine.info;
  if (run.rank0) run.log.say(formatPlan(s.plan, `${e.engine}/${e.backend} (${e.device}, ${e.dtype}, ${e.threads} thread${e.threads === 1 ? '' : 's'})`));
  run.log.event('plan', { ...s.plan, task: s.stage.task, engine: e, gradient_sync: run.gradientPath });
  const m = await evaluateOnRank0(run, s, state);
  if (m && Number.isFinite(m.loss)) state.lowestEvalLoss = Math.min(state.lowestEvalLoss ?? Infinity, m.loss);
  if (s.plan.stage === 0 && m) result.firstEval = m;
}

function logStep(run: RunContext, logInterval: number, r: StepReport): void {
  run.tb!.scalars(r.globalStep, { 'train/loss': r.loss, 'train/lr': r.lr, 'train/grad_norm': r.gradNorm, 'train/tokens_per_s': r.tokensPerSec });
  run.log.event('step', { ...r });
  if (r.step % logInterval === 0 || r.step === r.maxSteps) run.log.progress(r);
}

/** last.pth (and step-N.pth) on rank 0, with the dropout stream as it is now; every rank notes where it is. */
function checkpoint(run: RunContext, state: TrainerState, result: TrainResult): void {
  run.lastCheckpoint = { path: run.paths.last, globalStep: state.globalStep };
  if (!run.rank0) return;
  state.engineRng = run.engine.rngState();
  result.lastPath = run.ckpt!.saveLast(run.engine, state);
}

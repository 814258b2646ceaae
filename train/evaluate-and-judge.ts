import { higherIsBetter } from '../spec/classification-spec.ts';
import type { TrainerState } from './checkpointer.ts';
import { evaluationDiverged } from './divergence-guard.ts';
import { explainOom } from './failures.ts';
import { confusionMarkdown, describeEval, evalScalars, metricValue, type EvalMetrics } from './metrics/eval-metrics.ts';
import type { RunContext } from './run-context.ts';
import type { StageContext } from './stage-context.ts';

/** Rank 0's validation pass, written to TensorBoard and the log; null on the other ranks. */
export async function evaluateOnRank0(run: RunContext, s: StageContext, state: TrainerState): Promise<EvalMetrics | null> {
  if (!run.rank0) return null;
  const { plan } = s;
  const t0 = performance.now();
  let m: EvalMetrics;
  try {
    m = await s.task.evaluate(run.engine);
  } catch (e) {
    const where = `stage ${plan.stage} evaluation at step ${state.step}: out of memory in a batch of ${plan.microBatch} × ${plan.seqLen} tokens`;
    throw explainOom(e as Error, where, plan, run.ckpt?.lastPath ?? null);
  }
  run.tb!.scalars(state.globalStep, evalScalars(m));
  if (m.task === 'classification') run.tb!.text(state.globalStep, 'eval/confusion_matrix', confusionMarkdown(m));
  run.log.event(
    'eval',
    { stage: plan.stage, step: state.step, globalStep: state.globalStep, seconds: (performance.now() - t0) / 1000, ...m },
    `eval stage ${plan.stage} step ${state.step}: ${describeEval(m)}`,
  );
  return m;
}

/** What an evaluation decided: stop early (target, patience), or the run diverged. */
export interface Verdict {
  stop: string | null;
  diverged: string | null;
}

/**
 * Rank 0 judges the evaluation (divergence first, then best.pth and early
 * stopping by the stage's own early stopping, else the job's); every rank
 * learns the verdict through a broadcast.
 */
export async function judgeEvaluation(run: RunContext, s: StageContext, m: EvalMetrics | null, state: TrainerState): Promise<Verdict> {
  const v: Verdict = m ? judgeOnRank0(run, s, m, state) : { stop: null, diverged: null };
  if (run.sync.worldSize > 1) {
    const flag = new Float32Array([v.diverged ? 2 : v.stop ? 1 : 0]);
    await run.sync.broadcast(flag, 0);
    if (!m && flag[0] === 2) v.diverged = 'the evaluation diverged (found by rank 0)';
    if (!m && flag[0] === 1) v.stop = 'early stop (decided by rank 0)';
  }
  return v;
}

function judgeOnRank0(run: RunContext, s: StageContext, m: EvalMetrics, state: TrainerState): Verdict {
  const stageIndex = s.plan.stage;
  const diverged = evaluationDiverged(m.loss, state.lowestEvalLoss, run.job.divergence.factor);
  if (diverged) return { stop: null, diverged };
  state.lowestEvalLoss = Math.min(state.lowestEvalLoss ?? Infinity, m.loss);
  const es = s.stage.early_stopping ?? run.job.early_stopping;
  const v = metricValue(m, es.metric);
  const higher = higherIsBetter(es.metric);
  if (state.best === null || (higher ? v > state.best.value : v < state.best.value)) {
    state.best = { metric: es.metric, value: v, stage: stageIndex, step: state.step };
    state.badEvals = 0;
    run.ckpt!.saveBest(run.engine, { step: state.globalStep, stage: stageIndex });
  } else {
    state.badEvals++;
  }
  let stop: string | null = null;
  if (es.target !== null && (higher ? v >= es.target : v <= es.target)) stop = `target ${es.metric} ${es.target} reached (${v})`;
  else if (es.patience > 0 && state.badEvals >= es.patience) stop = `no ${es.metric} improvement in ${es.patience} evaluations`;
  return { stop, diverged: null };
}

/** An evaluation and its verdict: the metrics (rank 0), and whether to stop or the run diverged. */
export async function evaluateAndJudge(run: RunContext, s: StageContext, state: TrainerState): Promise<{ metrics: EvalMetrics | null } & Verdict> {
  const metrics = await evaluateOnRank0(run, s, state);
  return { metrics, ...(await judgeEvaluation(run, s, metrics, state)) };
}

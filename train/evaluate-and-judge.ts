import { higherIsBetter } from '../spec/classification-spec.ts';
import type { TrainerState } from './checkpointer.ts';
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

/**
 * Rank 0 keeps best.pth and the early-stopping count up to date, by the
 * stage's early stopping (its own, else the job's); every rank learns the
 * verdict (a reason to stop, or null) through a broadcast.
 */
export async function judgeEvaluation(run: RunContext, s: StageContext, m: EvalMetrics | null, state: TrainerState): Promise<string | null> {
  let reason: string | null = null;
  if (m) {
    const es = s.stage.early_stopping ?? run.job.early_stopping;
    const v = metricValue(m, es.metric);
    const higher = higherIsBetter(es.metric);
    if (state.best === null || (higher ? v > state.best.value : v < state.best.value)) {
      state.best = { metric: es.metric, value: v, stage: s.plan.stage, step: state.step };
      state.badEvals = 0;
      run.ckpt!.saveBest(run.engine);
    } else {
      state.badEvals++;
    }
    if (es.target !== null && (higher ? v >= es.target : v <= es.target)) reason = `target ${es.metric} ${es.target} reached (${v})`;
    else if (es.patience > 0 && state.badEvals >= es.patience) reason = `no ${es.metric} improvement in ${es.patience} evaluations`;
  }
  if (run.sync.worldSize > 1) {
    const flag = new Float32Array([reason ? 1 : 0]);
    await run.sync.broadcast(flag, 0);
    if (flag[0] && !reason) reason = 'early stop (decided by rank 0)';
  }
  return reason;
}

/** An evaluation and its verdict: the metrics (rank 0) and why to stop, if so. */
export async function evaluateAndJudge(run: RunContext, s: StageContext, state: TrainerState): Promise<{ metrics: EvalMetrics | null; stop: string | null }> {
  const metrics = await evaluateOnRank0(run, s, state);
  return { metrics, stop: await judgeEvaluation(run, s, metrics, state) };
}

import { BlockDataset } from '../data/blocks.ts';
import { HIGHER_IS_BETTER } from '../spec/job-spec.ts';
import type { TrainerState } from './checkpointer.ts';
import { evaluate } from './evaluator.ts';
import { explainOom } from './failures.ts';
import type { MlmMetrics } from './metrics/mlm-metrics.ts';
import type { RunContext } from './run-context.ts';
import type { StageContext } from './stage-context.ts';

/** Rank 0's validation pass, written to TensorBoard and the log; null on the other ranks. */
export async function evaluateOnRank0(run: RunContext, s: StageContext, state: TrainerState): Promise<MlmMetrics | null> {
  if (!run.rank0) return null;
  const { plan, stage } = s;
  const t0 = performance.now();
  let m: MlmMetrics;
  try {
    m = await evaluate(run.engine, new BlockDataset(run.valid, plan.seqLen, run.spec.special), run.maskingFor(stage), {
      seed: run.job.seed,
      microBatch: plan.microBatch,
      maxSamples: stage.max_eval_samples,
    });
  } catch (e) {
    const where = `stage ${plan.stage} evaluation at step ${state.step}: out of memory in a batch of ${plan.microBatch} × ${plan.seqLen} tokens`;
    throw explainOom(e as Error, where, plan, run.ckpt?.lastPath ?? null);
  }
  run.tb!.scalars(state.globalStep, Object.fromEntries(Object.entries(m).map(([k, v]) => [`eval/${k}`, v])));
  run.log.event(
    'eval',
    { stage: plan.stage, step: state.step, globalStep: state.globalStep, seconds: (performance.now() - t0) / 1000, ...m },
    `eval stage ${plan.stage} step ${state.step}: loss ${m.loss.toFixed(4)} ppl ${m.perplexity.toFixed(2)} ` +
      `acc ${(m.masked_accuracy * 100).toFixed(2)}% top10 ${(m.top10_accuracy * 100).toFixed(2)}% ` +
      `all-tokens ${(m.all_tokens_accuracy * 100).toFixed(2)}% F1 ${m.f1.toFixed(4)}`,
  );
  return m;
}

/**
 * Rank 0 keeps best.pth and the early-stopping count up to date; every rank
 * learns the verdict (a reason to stop, or null) through a broadcast.
 */
export async function judgeEvaluation(run: RunContext, m: MlmMetrics | null, stageIndex: number, state: TrainerState): Promise<string | null> {
  let reason: string | null = null;
  if (m) {
    const es = run.job.early_stopping;
    const v = m[es.metric];
    const higher = HIGHER_IS_BETTER[es.metric];
    if (state.best === null || (higher ? v > state.best.value : v < state.best.value)) {
      state.best = { metric: es.metric, value: v, stage: stageIndex, step: state.step };
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
export async function evaluateAndJudge(run: RunContext, s: StageContext, state: TrainerState): Promise<{ metrics: MlmMetrics | null; stop: string | null }> {
  const metrics = await evaluateOnRank0(run, s, state);
  return { metrics, stop: await judgeEvaluation(run, metrics, s.plan.stage, state) };
}

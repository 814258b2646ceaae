import { BlockDataset } from '../data/blocks.ts';
import { HIGHER_IS_BETTER } from '../spec/job-spec.ts';
import type { TrainerState } from './checkpointer.ts';
import { evaluationDiverged } from './divergence-guard.ts';
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

/** What an evaluation decided: stop early (target, patience), or the run diverged. */
export interface Verdict {
  stop: string | null;
  diverged: string | null;
}

/**
 * Rank 0 judges the evaluation (divergence first, then best.pth and early
 * stopping); every rank learns the verdict through a broadcast.
 */
export async function judgeEvaluation(run: RunContext, m: MlmMetrics | null, stageIndex: number, state: TrainerState): Promise<Verdict> {
  const v: Verdict = m ? judgeOnRank0(run, m, stageIndex, state) : { stop: null, diverged: null };
  if (run.sync.worldSize > 1) {
    const flag = new Float32Array([v.diverged ? 2 : v.stop ? 1 : 0]);
    await run.sync.broadcast(flag, 0);
    if (!m && flag[0] === 2) v.diverged = 'the evaluation diverged (found by rank 0)';
    if (!m && flag[0] === 1) v.stop = 'early stop (decided by rank 0)';
  }
  return v;
}

function judgeOnRank0(run: RunContext, m: MlmMetrics, stageIndex: number, state: TrainerState): Verdict {
  const diverged = evaluationDiverged(m.loss, state.lowestEvalLoss, run.job.divergence.factor);
  if (diverged) return { stop: null, diverged };
  state.lowestEvalLoss = Math.min(state.lowestEvalLoss ?? Infinity, m.loss);
  const es = run.job.early_stopping;
  const v = m[es.metric];
  const higher = HIGHER_IS_BETTER[es.metric];
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
export async function evaluateAndJudge(run: RunContext, s: StageContext, state: TrainerState): Promise<{ metrics: MlmMetrics | null } & Verdict> {
  const metrics = await evaluateOnRank0(run, s, state);
  return { metrics, ...(await judgeEvaluation(run, metrics, s.plan.stage, state)) };
}

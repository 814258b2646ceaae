import { EngineOutOfMemoryError } from '../engine/out-of-memory.ts';
import type { StagePlan } from '../spec/plan-stages.ts';
import type { TrainerState } from './checkpointer.ts';

/** A run stopped for a reason the user can act on; the message says how. */
export class TrainingError extends Error {}

export function explainStepFailure(e: Error, plan: StagePlan, state: TrainerState, lastCheckpoint: string | null): Error {
  const where =
    `stage ${plan.stage} step ${state.step + 1}: out of memory in micro-batch ${(state.microCursor % plan.accumulation) + 1} of ` +
    `${plan.accumulation} (${plan.microBatch} × ${plan.seqLen} tokens)`;
  return explainOom(e, where, plan, lastCheckpoint);
}

/** An engine's out-of-memory (each engine recognises its own wording) as a TrainingError with the fix. */
export function explainOom(e: Error, where: string, plan: StagePlan, lastCheckpoint: string | null): Error {
  if (!(e instanceof EngineOutOfMemoryError)) return e;
  const smaller = plan.microBatch > 1 ? Math.floor(plan.microBatch / 2) : 1;
  return new TrainingError(
    `${where}: ${e.message}. ` +
      `Try micro_batch ${smaller} with the same global_batch ${plan.globalBatch} (accumulation grows to keep the same update). ` +
      `Last good checkpoint: ${lastCheckpoint ?? 'none yet'}.`,
  );
}

/** A step whose loss or gradient is not finite is never applied: stop, naming the last good checkpoint. */
export function nonFiniteStep(plan: StagePlan, state: TrainerState, loss: number, gradNorm: number, lastCheckpoint: string | null, runDir: string): TrainingError {
  return new TrainingError(
    `stage ${plan.stage} step ${state.step + 1}: ${!Number.isFinite(loss) ? `loss is ${loss}` : `gradient norm is ${gradNorm}`}; ` +
      `the run stopped without applying it. Last good checkpoint: ${lastCheckpoint ?? 'none yet'}. ` +
      `Try a lower learning_rate or max_grad_norm, then \`gradpool train --resume ${runDir}\`.`,
  );
}

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

/** Where the run can continue from: the newest checkpoint written (its path and global step). */
export interface CheckpointMark {
  path: string;
  globalStep: number;
}

/** The run diverged (see DivergenceGuard): stop, naming the step, the reason and the last good checkpoint. */
export function divergedError(plan: StagePlan, state: TrainerState, reason: string, lastGood: CheckpointMark | null, runDir: string, note = ''): TrainingError {
  const where = lastGood ? `${lastGood.path} (step ${lastGood.globalStep})` : 'none yet';
  return new TrainingError(
    `stage ${plan.stage} step ${state.step + 1}: the run diverged: ${reason}${note}. ` +
      `Last good checkpoint: ${where}. ` +
      `Try a lower learning_rate or max_grad_norm (or divergence.action: rollback), then \`gradpool train --resume ${runDir}\`.`,
  );
}

import { SchedulerInputError } from './input-error.ts';

/** A stage's batch sizes, as the job spec names them. */
export interface StageBatch {
  global_batch: number;
  micro_batch: number;
}

/**
 * The world sizes a run may use: every s in [minWorldSize, worldSize] with
 * which each stage's global batch is a whole number of micro-batches per rank
 * (global_batch % (micro_batch × s) = 0), so the plan only re-derives the
 * accumulation and the global batch, learning-rate schedule and sample order
 * stay the same. `worldSize` Infinity (the job's world_size 0, "every free
 * worker") means as many as the batches allow. Throws naming the fields when
 * no size qualifies: that job could never start.
 */
export function allowedWorldSizes(stages: readonly StageBatch[], minWorldSize: number, worldSize: number): number[] {
  if (!Number.isInteger(minWorldSize) || minWorldSize < 1) {
    throw new SchedulerInputError([`min_world_size: ${minWorldSize} must be an integer ≥ 1`]);
  }
  if (worldSize !== Infinity && (!Number.isInteger(worldSize) || worldSize < minWorldSize)) {
    throw new SchedulerInputError([`world_size: ${worldSize} must be an integer ≥ min_world_size ${minWorldSize}`]);
  }
  if (stages.length === 0) throw new SchedulerInputError(['stages: at least one stage is needed']);
  const batchLimit = Math.min(...stages.map((s) => Math.floor(s.global_batch / s.micro_batch)));
  const sizes: number[] = [];
  for (let s = minWorldSize; s <= Math.min(worldSize, batchLimit); s++) {
    if (stages.every((st) => st.global_batch % (st.micro_batch * s) === 0)) sizes.push(s);
  }
  if (sizes.length === 0) {
    const range = worldSize === Infinity ? `≥ ${minWorldSize}` : `in [${minWorldSize}, ${worldSize}]`;
    throw new SchedulerInputError([
      `world_size, min_world_size: no world size ${range} divides every stage's global_batch by micro_batch × world size ` +
        `(${stages.map((s, i) => `stages[${i}]: ${s.global_batch} / ${s.micro_batch}`).join(', ')})`,
    ]);
  }
  return sizes;
}

/** The largest size in `sizes` (ascending) that is at most `n`; 0 if none. */
export function largestFitting(sizes: readonly number[], n: number): number {
  for (let i = sizes.length - 1; i >= 0; i--) if (sizes[i]! <= n) return sizes[i]!;
  return 0;
}

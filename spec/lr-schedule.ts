import type { Schedule } from './job-spec.ts';

/**
 * Learning rate of optimizer step `step` (0-based): linear warmup to the
 * peak over `warmup` steps (step w−1 reaches it), then linear or cosine
 * annealing from the peak at step `warmup` to `peak × minRatio` at the last
 * step (warmup + annealing).
 */
export function learningRateAt(
  step: number,
  s: { peak: number; warmup: number; annealing: number; schedule: Schedule; minRatio: number },
): number {
  if (step < s.warmup) return (s.peak * (step + 1)) / s.warmup;
  const floor = s.peak * s.minRatio;
  if (s.annealing <= 0) return s.peak;
  const p = Math.min((step - s.warmup) / s.annealing, 1);
  const shape = s.schedule === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * p)) : 1 - p;
  return floor + (s.peak - floor) * shape;
}

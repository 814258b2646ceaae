import { Rng } from '../common/rng.ts';

/**
 * A validation split that keeps each label's share (scikit-learn's
 * `train_test_split(stratify=…)` in spirit): per label, a seeded shuffle of
 * its examples, and round(ratio × count) of them held out, at least one
 * when the label has two or more examples and never all of them.
 * Deterministic for a seed, independent of the order labels first appear in.
 */
export function stratifiedSplit(labels: ArrayLike<number>, numLabels: number, ratio: number, seed: number): { train: number[]; valid: number[] } {
  const byLabel: number[][] = Array.from({ length: numLabels }, () => []);
  for (let i = 0; i < labels.length; i++) byLabel[labels[i]!]!.push(i);
  const held = new Set<number>();
  byLabel.forEach((idx, label) => {
    if (idx.length < 2 || ratio <= 0) return;
    const k = Math.min(Math.max(Math.round(ratio * idx.length), 1), idx.length - 1);
    const order = Int32Array.from(idx);
    new Rng((seed ^ Math.imul(label + 1, 0x9e3779b1)) >>> 0).shuffle(order);
    for (let j = 0; j < k; j++) held.add(order[j]!);
  });
  const train: number[] = [];
  const valid: number[] = [];
  for (let i = 0; i < labels.length; i++) (held.has(i) ? valid : train).push(i);
  return { train, valid };
}

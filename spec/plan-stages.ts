import type { StageSpec } from './job-spec.ts';

/**
 * The plan of one stage for a given world size and corpus: pure arithmetic,
 * the numbers users check in the first lines of a run's log.
 *
 *   accumulation        = global_batch / (micro_batch × world)       (must be whole)
 *   samples per rank    = floor(samples / world)
 *   micro-batches/epoch = floor(samples per rank / micro_batch)      (per rank)
 *   dropped samples     = samples − world × micro_batch × micro-batches/epoch   (per epoch)
 *   max steps           = floor(epochs × micro-batches/epoch / accumulation)  (or max_steps as given)
 *   warmup steps        = warmup_steps, else floor(warmup_ratio × max steps)
 *   annealing steps     = max steps − warmup steps − 1
 *
 * Optimizer steps run over micro-batches in sequence and may straddle an
 * epoch boundary (as Hugging Face Trainer's do); annealing reaches its floor
 * on the last step, which is `annealing` steps after the peak.
 * A real run's log (18,092 samples, seq 256, world 1, global 64, micro 4,
 * 3 epochs) reads: accumulation 16, 4,523 micro-batches, 848 max steps,
 * 84 warmup, 763 annealing, 0 dropped — the unit tests hold these.
 */
export interface StagePlan {
  stage: number;
  seqLen: number;
  worldSize: number;
  microBatch: number;
  globalBatch: number;
  accumulation: number;
  totalSamples: number;
  samplesPerRank: number;
  microBatchesPerEpoch: number;
  droppedSamples: number;
  /** Fractional when the stage is given in max_steps. */
  epochs: number;
  maxSteps: number;
  warmupSteps: number;
  annealingSteps: number;
}

export class PlanError extends Error {}

/**
 * `epochWorlds`: the world sizes an elastic run may use (default: this one).
 * Each epoch then uses the same samples at every one of them: a whole number
 * of micro-batches of every size, so the sample order, and with it the
 * training, is the same whatever size each segment of the run had.
 */
export function planStage(stage: StageSpec, index: number, worldSize: number, samples: number, epochWorlds: readonly number[] = [worldSize]): StagePlan {
  const where = `stages[${index}]`;
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new PlanError(`world size ${worldSize} must be a positive integer`);
  const perStep = stage.micro_batch * worldSize;
  if (stage.global_batch % perStep !== 0) {
    throw new PlanError(
      `${where}: global_batch ${stage.global_batch} is not divisible by micro_batch ${stage.micro_batch} × world size ${worldSize} ` +
        `(= ${perStep}); pick a global batch that is a multiple of ${perStep}`,
    );
  }
  const accumulation = stage.global_batch / perStep;
  // Samples an epoch uses come in groups every allowed world size splits into whole micro-batches.
  const group = epochWorlds.reduce(lcm, worldSize) * stage.micro_batch;
  const used = Math.floor(samples / group) * group;
  const samplesPerRank = group === perStep ? Math.floor(samples / worldSize) : used / worldSize;
  const microBatchesPerEpoch = used / perStep;
  if (microBatchesPerEpoch === 0) {
    throw new PlanError(
      `${where}: ${samples} samples of ${stage.seq_len} tokens give rank 0 of ${worldSize} fewer than one micro-batch of ${stage.micro_batch}`,
    );
  }
  const droppedSamples = samples - used;
  let maxSteps: number;
  let epochs: number;
  if (stage.max_steps > 0) {
    maxSteps = stage.max_steps;
    epochs = (maxSteps * accumulation) / microBatchesPerEpoch;
  } else {
    epochs = stage.epochs;
    maxSteps = Math.floor((epochs * microBatchesPerEpoch) / accumulation);
    if (maxSteps === 0) {
      throw new PlanError(
        `${where}: ${epochs} epoch(s) of ${microBatchesPerEpoch} micro-batches make no optimizer step of ${accumulation} micro-batches`,
      );
    }
  }
  const warmupSteps = Math.min(
    stage.warmup_steps > 0 ? stage.warmup_steps : Math.floor(stage.warmup_ratio * maxSteps),
    maxSteps - 1,
  );
  return {
    stage: index,
    seqLen: stage.seq_len,
    worldSize,
    microBatch: stage.micro_batch,
    globalBatch: stage.global_batch,
    accumulation,
    totalSamples: samples,
    samplesPerRank,
    microBatchesPerEpoch,
    droppedSamples,
    epochs,
    maxSteps,
    warmupSteps,
    annealingSteps: Math.max(maxSteps - warmupSteps - 1, 0),
  };
}

/** The plan as the table users know from their trainers' logs. */
export function formatPlan(p: StagePlan, engine: string): string {
  const rows: Array<[string, string | number]> = [
    ['Stage', p.stage],
    ['Sequence Length', p.seqLen],
    ['World Size', p.worldSize],
    ['Batch Size', p.microBatch * p.worldSize],
    ['Micro Batch', p.microBatch],
    ['Num Epochs', Number.isInteger(p.epochs) ? p.epochs : p.epochs.toFixed(2)],
    ['Max Steps', p.maxSteps],
    ['Warmup Steps', p.warmupSteps],
    ['Annealing Steps', p.annealingSteps],
    ['Gradient Accum Steps', p.accumulation],
    ['Total Samples', p.totalSamples],
    ['Samples per rank', p.samplesPerRank],
    ['Global Batch Size', p.globalBatch],
    ['Dropped Samples', p.droppedSamples],
    ['Engine', engine],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const v = Math.max(...rows.map(([, x]) => String(x).length));
  const line = `+${'-'.repeat(w + 2)}+${'-'.repeat(v + 2)}+`;
  return [line, ...rows.map(([k, x]) => `| ${k.padEnd(w)} | ${String(x).padStart(v)} |`), line].join('\n');
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const lcm = (a: number, b: number): number => (a / gcd(a, b)) * b;

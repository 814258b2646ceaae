import { Rng } from '../../common/rng.ts';
import { allowedWorldSizes, type WorkerInfo } from '../../coordinator/scheduling/index.ts';

/**
 * The simulated workload: a mixed population shaped like a shared GPU pool's
 * (many small runs, few wide ones, lognormal lengths), arriving as a Poisson
 * stream a little faster than the pool can serve, so a queue builds up and the
 * policy has choices to make.
 */
export interface SimJob {
  id: string;
  submitAt: number;
  priority: number;
  worldSizes: number[];
  preemptible: boolean;
  /** True run time at the largest world size, startups excluded. */
  workMs: number;
  /** What the submitter estimates (unknown for some). */
  estimateMs?: number;
}

export interface WorkloadOptions {
  jobs: number;
  workers: number;
  seed: number;
  /** Offered work / pool capacity over the arrival period. */
  load: number;
}

const MIN = 60_000;
/** Requested world size: share of jobs. */
const SIZES: Array<[number, number]> = [[1, 0.35], [2, 0.2], [4, 0.2], [8, 0.15], [16, 0.06], [32, 0.03], [64, 0.008], [128, 0.002]];
const PRIORITIES: Array<[number, number]> = [[1, 0.1], [3, 0.3], [5, 0.6]];
/** Every simulated job: global batch 256 of micro-batches of 2, so the allowed sizes are the powers of two up to 128. */
const STAGE = { global_batch: 256, micro_batch: 2 };
export const WORKLOAD_SHAPE = {
  elastic: 0.3,
  preemptible: 0.9,
  withEstimate: 0.7,
  medianMinutes: 40,
  sigma: 1,
  estimateSigma: 0.5,
};

function draw<T>(rng: Rng, table: Array<[T, number]>): T {
  let u = rng.next();
  for (const [v, p] of table) if ((u -= p) < 0) return v;
  return table[table.length - 1]![0];
}

export function makeWorkload(o: WorkloadOptions): SimJob[] {
  const rng = new Rng(o.seed);
  const s = WORKLOAD_SHAPE;
  const jobs: SimJob[] = [];
  // A pool smaller than the widest jobs gets none wider than itself.
  const sizes = SIZES.filter(([n]) => n <= o.workers);
  for (let i = 0; i < o.jobs; i++) {
    const max = draw(rng, sizes);
    const min = max > 1 && rng.next() < s.elastic ? Math.max(1, max / 4) : max;
    const workMs = Math.round(Math.min(24 * 60, Math.max(3, s.medianMinutes * Math.exp(s.sigma * rng.normal()))) * MIN);
    const estimate = rng.next() < s.withEstimate ? Math.round(workMs * Math.exp(s.estimateSigma * rng.normal())) : undefined;
    jobs.push({
      id: `job${i}`,
      submitAt: 0,
      priority: draw(rng, PRIORITIES),
      worldSizes: allowedWorldSizes([STAGE], min, max),
      preemptible: rng.next() < s.preemptible,
      workMs,
      ...(estimate === undefined ? {} : { estimateMs: estimate }),
    });
  }
  // Poisson arrivals over the period in which the pool could serve the work `load` times over.
  const work = jobs.reduce((w, j) => w + j.workMs * j.worldSizes[j.worldSizes.length - 1]!, 0);
  const rate = (o.jobs * o.load * o.workers) / work;
  let t = 0;
  for (const j of jobs) {
    j.submitAt = Math.round(t);
    t += -Math.log(1 - rng.next()) / rate;
  }
  return jobs;
}

/** Workers on hosts of `perHost` GPUs each. */
export function poolOf(workers: number, perHost: number): WorkerInfo[] {
  return Array.from({ length: workers }, (_, i) => ({ id: `w${i}`, host: `host${Math.floor(i / perHost)}` }));
}

/**
 * npm run bench:scheduler: the scheduling policy (coordinator/scheduling/) at
 * scale, by discrete-event simulation. 1,000 workers (hosts of 8) and 10,000
 * jobs of mixed world size, priority and length arrive a little faster than
 * the pool can serve them; workers fail and come back. The same code the
 * coordinator runs makes every decision; only its calls are timed.
 *
 * The peer, measured in the same run on the same workload and failures: the
 * same policy in strict order (backfill off), i.e. plain priority-ordered
 * gang scheduling with its head-of-line blocking.
 *
 * Last line: `scheduler sim (1000 workers, 10000 jobs): utilisation X, decision p99 Y ms`
 * (utilisation: busy worker-time / (workers × time) while the queue is non-empty).
 * Options: --workers N, --jobs N, --seed N, --load X (offered load, default 1.15).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_OPTIONS, type SchedulerOptions } from '../coordinator/scheduling/index.ts';
import { Simulator, type SimModel, type SimResult } from './scheduler-sim/simulator.ts';
import { makeWorkload, poolOf, WORKLOAD_SHAPE } from './scheduler-sim/workload.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '1000' },
    jobs: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    load: { type: 'string', default: '1.15' },
  },
});
const workers = Number(values.workers);
const jobCount = Number(values.jobs);
const seed = Number(values.seed);
const load = Number(values.load);
for (const [name, v] of [['--workers', workers], ['--jobs', jobCount], ['--seed', seed], ['--load', load]] as const) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name}: ${v} must be a positive number`);
}

const model: SimModel = {
  startupMs: MIN,
  pauseMs: 30_000,
  detectMs: 2_000,
  checkpointMs: 15 * MIN,
  firstEtaMs: 2 * MIN,
  progressEveryMs: 30 * MIN,
  etaSigma: 0.15,
  mtbfMs: 200 * HOUR,
  repairMs: 20 * MIN,
  tickMs: 5 * MIN,
};

const percentile = (xs: ArrayLike<number>, p: number): number => {
  const s = Float64Array.from(xs).sort();
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};
const hours = (ms: number) => `${(ms / HOUR).toFixed(2)} h`;
const minutes = (ms: number) => `${(ms / MIN).toFixed(1)} min`;

function simulate(label: string, policy: SchedulerOptions): SimResult {
  const jobs = makeWorkload({ jobs: jobCount, workers, seed, load });
  const t0 = Date.now();
  const r = new Simulator(jobs, poolOf(workers, 8), policy, model, seed + 1, (line) => process.stderr.write(`[${label}] ${line}\n`)).run();
  process.stderr.write(`[${label}] simulated in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  return r;
}

function report(label: string, r: SimResult): void {
  const c = r.counts;
  console.log(`${label}:`);
  console.log(`  utilisation ${r.utilisation.toFixed(3)} (of live workers ${r.aliveUtilisation.toFixed(3)}); useful work ${r.usefulShare.toFixed(3)} of workers × makespan ${hours(r.makespanMs)}`);
  for (const [priority, waits] of [...r.waits.entries()].sort(([a], [b]) => a - b)) {
    console.log(`  priority ${priority}: ${waits.length} jobs, wait p50 ${minutes(percentile(waits, 50))}, p95 ${minutes(percentile(waits, 95))}`);
  }
  console.log(
    `  starts ${c.starts} (${c.backfilled} backfilled), preemptions ${c.preemptions} by priority + ${c.leaseReclaims} of overstayed backfill leases, ` +
      `elastic resizes ${c.resizes}, restarts ${c.restarts}, runs failed ${c.failedRuns}, kills ${c.kills}, worker failures ${c.workerFailures}`,
  );
  const ms = (xs: Float64Array, p: number) => `${percentile(xs, p).toFixed(3)} ms`;
  console.log(`  policy calls ${c.calls}: wall p50 ${ms(r.decisionMs, 50)}, p99 ${ms(r.decisionMs, 99)}, max ${ms(r.decisionMs, 100)}; cpu p99 ${ms(r.decisionCpuMs, 99)}`);
  console.log(`  queueStatus (all queued runs, up to ${percentile(r.statusQueueLengths, 100)}): p50 ${ms(r.statusMs, 50)}, p99 ${ms(r.statusMs, 99)}`);
}

const s = WORKLOAD_SHAPE;
console.log(
  `workload: ${jobCount} jobs (world sizes 1-128, ${s.elastic * 100}% of multi-rank jobs elastic down to 1/4; priorities 1/3/5 at 10/30/60%; ` +
    `${s.preemptible * 100}% preemptible; lengths lognormal, median ${s.medianMinutes} min; ${s.withEstimate * 100}% with an estimate, sigma ${s.estimateSigma}), ` +
    `${workers} workers on hosts of 8, offered load ${load}, worker MTBF ${model.mtbfMs / HOUR} h, repair ${model.repairMs / MIN} min`,
);
console.log(`policy options: ${JSON.stringify(DEFAULT_OPTIONS)}`);
const strict = simulate('strict order', { backfill: false });
report('peer: strict priority order (backfill off)', strict);
const easy = simulate('policy', {});
report('policy: EASY backfill + preemption', easy);
console.log(`utilisation ratio policy / strict order: ${(easy.utilisation / strict.utilisation).toFixed(3)}`);
console.log(
  `scheduler sim (${workers} workers, ${jobCount} jobs): utilisation ${easy.utilisation.toFixed(3)}, decision p99 ${percentile(easy.decisionMs, 99).toFixed(3)} ms`,
);

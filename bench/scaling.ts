// npm run bench:scaling — data-parallel scaling through the real service path.
//
// The same small-BERT job (4 layers, hidden 256, vocab 30522; global batch 16
// = micro-batch 4 × seq 128 × accumulation 4/W) is submitted with the
// GradpoolClient to a coordinator and workers started as separate processes
// on a private queue prefix (as test/service/harness.ts and pm2 do), with 1
// and with 2 workers (each rank single-threaded wasm, OMP_WAIT_POLICY=PASSIVE).
// Optimizer steps/s come from the step records of the run's logs/train.jsonl
// (rank 0's wall time per optimizer step, the first step excluded as
// warm-up). With a fixed global batch, 2 workers halve each rank's
// accumulation, so linear scaling is 2× the optimizer steps/s.
//
// Then, with the cluster stopped, what a 2-worker step is made of: the AdamW
// step measured in this process (same engine), the flat-gradient all-reduce
// between two forked processes over shm (this file with --allreduce-rank),
// and a micro-batch's cost from the 1-worker run.
//
// It also prints `submit → first step overhead: X s`: the time from submit to
// the first optimizer step's progress event, less the run's own work before
// it (the step, and the evaluation every fresh run makes before its first
// step, both from the run's log), with where the rest went (the `startup`
// record: queued, preparing, dispatch, rendezvous, engine build). The
// cluster starts with warm workers: startCluster waits until each says its
// rank process is warm.
//
// BENCH_STEPS (default 8) sets the optimizer steps per run.
import { readCurrentLog } from '../train/step-log.ts';
import { fork } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine } from '../engine/create-engine.ts';
import type { MlmBatch } from '../engine/engine.ts';
import type { Job } from '../spec/job-spec.ts';
import { prepareRun } from '../train/prepare-run.ts';
import { describeStartup } from '../train/train-run.ts';
import { Communicator } from '../native/index.ts';
import { testJob } from '../test/helpers/test-job.ts';
import { scratchDir } from '../test/helpers/torch-reference.ts';
import { REDIS_URL, startCluster } from '../test/service/harness.ts';

const STEPS = Number(process.env.BENCH_STEPS ?? 8);
const MICRO = 4;
const SEQ = 128;
const GLOBAL = 16;
const root = new URL('..', import.meta.url).pathname;
const self = fileURLToPath(import.meta.url);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

if (process.argv[2] === '--allreduce-rank') {
  await allReduceRank(Number(process.argv[3]), Number(process.argv[4]), process.argv[5]!);
  process.exit(0);
} else {
  await main();
}

function benchJob(dir: string, name: string): Job {
  return testJob(
    dir,
    {
      name,
      corpus: { train: join(root, 'examples/corpus/grimm/train.txt'), valid: join(root, 'examples/corpus/grimm/valid.txt'), cache_dir: join(dir, 'cache') },
      model: { config: { hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024, max_position_embeddings: SEQ } },
      keep_last: 0,
    },
    // One evaluation on 4 samples at each end, no checkpoint during the timed steps.
    { seq_len: SEQ, micro_batch: MICRO, global_batch: GLOBAL, max_steps: STEPS + 1, warmup_steps: 1, eval_interval: 0, max_eval_samples: 4, log_interval: 1000 },
  );
}

interface RunTiming {
  world: number;
  accumulation: number;
  threads: number;
  stepsPerSec: number;
  perStep: number;
  submitToFirstStep: number;
  firstStepSeconds: number;
  firstEvalSeconds: number;
  startup: Record<string, number | boolean>;
  /** From the startup record to the plan record: opening the run folder, the initial broadcast (ranks > 1). */
  setupSeconds: number;
}

async function runWith(cluster: Awaited<ReturnType<typeof startCluster>>, world: number, dir: string): Promise<RunTiming> {
  const job = benchJob(dir, `scaling-${world}`);
  const submitted = performance.now();
  const id = await cluster.client.submit(job, { worldSize: world });
  let firstStepAt = NaN;
  let outcome = null;
  for await (const e of cluster.client.events(id, 100)) {
    if (e.type === 'progress' && Number.isNaN(firstStepAt)) firstStepAt = performance.now();
    if (e.type === 'failed') throw new Error(`run with ${world} worker(s) failed: ${e.reason}`);
    if (e.type === 'completed') {
      outcome = e.result;
      break;
    }
  }
  if (!outcome?.finished) throw new Error(`run with ${world} worker(s) did not finish: ${JSON.stringify(outcome)}`);
  const { records, steps } = readCurrentLog(outcome.run_dir);
  const plan = records.find((r) => r.event === 'plan') as unknown as { accumulation: number; worldSize: number; engine: { threads: number } };
  if (plan.worldSize !== world) throw new Error(`run planned for ${plan.worldSize} ranks, asked ${world}`);
  if (steps.length !== STEPS + 1) throw new Error(`expected ${STEPS + 1} step records, found ${steps.length}`);
  const timed = steps.filter((s) => s.step > 1).map((s) => s.seconds); // step 1 is warm-up
  const perStep = mean(timed);
  const startup = records.find((r) => r.event === 'startup');
  const firstEval = records.find((r) => r.event === 'eval');
  if (!startup || !firstEval) throw new Error(`run with ${world} worker(s): no startup or eval record in its log`);
  const planRecord = records.find((r) => r.event === 'plan')!;
  return {
    world,
    accumulation: plan.accumulation,
    threads: plan.engine.threads,
    stepsPerSec: 1 / perStep,
    perStep,
    submitToFirstStep: (firstStepAt - submitted) / 1000,
    firstStepSeconds: steps[0]!.seconds,
    firstEvalSeconds: (firstEval as unknown as { seconds: number }).seconds,
    startup: Object.fromEntries(Object.entries(startup).filter(([k]) => k !== 'time' && k !== 'event')) as Record<string, number | boolean>,
    setupSeconds: (Date.parse(planRecord.time) - Date.parse(startup.time)) / 1000,
  };
}

/** The AdamW step (every rank repeats it), on this process's engine with nothing else running. */
async function computeParts(job: Job): Promise<{ optimizerSec: number; numParams: number }> {
  const spec = await prepareRun(job, 1, () => {});
  const engine = await createEngine('wasm', { config: spec.modelConfig, seed: 0 });
  try {
    const vocab = spec.modelConfig.vocab_size;
    const n = MICRO * SEQ;
    const batch: MlmBatch = { batchSize: MICRO, seqLen: SEQ, inputIds: new Int32Array(n), attentionMask: new Int32Array(n).fill(1), labels: new Int32Array(n).fill(-100) };
    let x = 12345;
    for (let i = 0; i < n; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      batch.inputIds[i] = 1000 + (x % (vocab - 1000));
      if (i % 7 === 3) {
        batch.labels[i] = batch.inputIds[i]!;
        batch.inputIds[i] = 103; // [MASK]
      }
    }
    const step = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1, gradScale: 1 / 64 };
    const opt: number[] = [];
    for (let k = 0; k < 4; k++) {
      engine.zeroGrad();
      await engine.forwardBackward(batch, true); // real gradients for the step to apply
      const t = performance.now();
      await engine.optimizerStep(step);
      opt.push((performance.now() - t) / 1000);
    }
    return { optimizerSec: mean(opt.slice(1)), numParams: engine.numParams };
  } finally {
    engine.dispose();
  }
}

/** One rank of the all-reduce measurement (a forked copy of this file). */
async function allReduceRank(rank: number, n: number, runId: string): Promise<void> {
  const comm = await Communicator.init({ backend: 'shm', rank, worldSize: 2, runId, rendezvous: { redisUrl: REDIS_URL }, timeoutMs: 60_000 });
  try {
    const buf = new Float32Array(n).fill(rank + 1);
    const stats = new Float32Array(4);
    const times: number[] = [];
    for (let k = 0; k < 7; k++) {
      const t = performance.now();
      // What the loop does once per optimizer step: the stats, then the flat gradient.
      await comm.allReduce(stats, 'sum');
      await comm.allReduce(buf, 'sum');
      times.push((performance.now() - t) / 1000);
    }
    process.send?.({ seconds: mean(times.slice(2)), backend: comm.describe().backend });
  } finally {
    await comm.destroy();
  }
}

async function allReduceSeconds(n: number): Promise<{ seconds: number; backend: string }> {
  const runId = `bench-scaling-${process.pid}`;
  const ranks = [0, 1].map((r) =>
    fork(self, ['--allreduce-rank', String(r), String(n), runId], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  const fromRank0 = new Promise<{ seconds: number; backend: string }>((resolve, reject) => {
    ranks[0]!.once('message', (m) => resolve(m as { seconds: number; backend: string }));
    ranks[0]!.once('exit', (code) => reject(new Error(`all-reduce rank 0 exited with ${code} before reporting`)));
  });
  try {
    return await fromRank0;
  } finally {
    await Promise.all(ranks.map((p) => (p.exitCode !== null ? null : new Promise((r) => p.once('exit', r)))));
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const dirs: string[] = [];
  const timings: RunTiming[] = [];
  for (const world of [1, 2]) {
    // A fresh cluster per run, with exactly `world` workers: nothing idle polls Redis beside the ranks.
    const cluster = await startCluster({ workers: world, env: { OMP_WAIT_POLICY: 'PASSIVE' } });
    try {
      const dir = scratchDir(`scaling-${world}`);
      dirs.push(dir);
      timings.push(await runWith(cluster, world, dir));
    } finally {
      await cluster.stop();
    }
  }
  const [one, two] = timings as [RunTiming, RunTiming];
  const parts = await computeParts(benchJob(dirs[0]!, 'scaling-parts'));
  const ar = await allReduceSeconds(parts.numParams);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });

  const ratio = two.stepsPerSec / (2 * one.stepsPerSec);
  console.log(
    `bench:scaling — small BERT (4 layers, hidden 256, ${(parts.numParams / 1e6).toFixed(1)}M parameters), global batch ${GLOBAL} ` +
      `(micro ${MICRO} × seq ${SEQ}), ${STEPS} timed steps after 1 warm-up, through coordinator + workers; ${((performance.now() - started) / 1000).toFixed(0)} s in all`,
  );
  for (const t of timings) {
    console.log(
      `${t.world} worker${t.world > 1 ? 's' : ' '}: ${t.stepsPerSec.toFixed(3)} steps/s (${t.perStep.toFixed(2)} s/step, accumulation ${t.accumulation} per rank, ` +
        `${t.threads} thread per rank)`,
    );
  }
  // Where a 2-worker step goes: each rank computes its micro-batches, all
  // ranks all-reduce, then every rank repeats the same AdamW step on the full
  // model. A micro-batch's cost is taken from the 1-worker run (its step less
  // the AdamW step), so "the rest" is what running two ranks side by side adds.
  const micro = (one.perStep - parts.optimizerSec) / one.accumulation;
  const compute2 = two.accumulation * micro;
  const rest = two.perStep - compute2 - parts.optimizerSec - ar.seconds;
  const pct = (s: number) => `${((s / two.perStep) * 100).toFixed(0)}%`;
  console.log(
    `per step: micro-batch forward+backward ${micro.toFixed(2)} s (1-worker run), AdamW step ${parts.optimizerSec.toFixed(3)} s (measured alone), ` +
      `all-reduce of ${((parts.numParams * 4) / 1e6).toFixed(0)} MB between 2 ranks over ${ar.backend} ${ar.seconds.toFixed(3)} s (measured alone)`,
  );
  console.log(
    `2-worker step ${two.perStep.toFixed(2)} s = ${two.accumulation} micro-batches ${compute2.toFixed(2)} s (${pct(compute2)}) + AdamW, repeated on every rank, ` +
      `${parts.optimizerSec.toFixed(2)} s (${pct(parts.optimizerSec)}) + all-reduce ${ar.seconds.toFixed(3)} s (${pct(ar.seconds)}) + contention ${rest.toFixed(2)} s (${pct(rest)})`,
  );
  const bound = one.perStep / (2 * (compute2 + parts.optimizerSec + ar.seconds));
  console.log(
    `limit: without contention, the repeated AdamW step and the all-reduce would allow ${bound.toFixed(3)} of linear; the gap to it is ` +
      `two single-threaded ranks on ${availableParallelism()} cores slowing each other (cores and memory bandwidth shared with Redis, the coordinator and the relays)`,
  );
  // Time to first step beyond the run's own work (the first evaluation and the step): intake, scheduling,
  // preparing, dispatch, rendezvous, engine build, opening the run and the initial broadcast.
  const overhead = (t: RunTiming) => t.submitToFirstStep - t.firstStepSeconds - t.firstEvalSeconds;
  for (const t of timings) {
    console.log(
      `${t.world} worker${t.world > 1 ? 's' : ' '}: submit → first step done ${t.submitToFirstStep.toFixed(2)} s = run's own work (first evaluation ` +
        `${t.firstEvalSeconds.toFixed(2)} + step ${t.firstStepSeconds.toFixed(2)}) + overhead ${overhead(t).toFixed(2)} ` +
        `(${describeStartup(t.startup)}; run set-up ${t.setupSeconds.toFixed(2)} s)`,
    );
  }
  console.log(`submit → first step overhead: ${overhead(one).toFixed(2)} s (1 worker; 2 workers: ${overhead(two).toFixed(2)} s)`);
  console.log(`data-parallel 2 workers: ${ratio.toFixed(3)} of linear`);
}

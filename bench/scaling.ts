// npm run bench:scaling — the same small-BERT job (4 layers, hidden 256,
// vocab 30522; global batch 16 of 4 × 128) through the real service path
// with 1 and with 2 workers on this machine (each rank single-threaded), and
// the time from submit to first step. With a fixed global batch, 2 workers
// halve each rank's accumulation, so linear scaling = 2× the steps/s.
import { join } from 'node:path';
import { testJob } from '../test/helpers/test-job.ts';
import { scratchDir } from '../test/helpers/torch-reference.ts';
import { startCluster } from '../test/service/harness.ts';

const STEPS = Number(process.env.BENCH_STEPS ?? 8);
const root = new URL('..', import.meta.url).pathname;
const cluster = await startCluster({ workers: 2 });

async function run(world: number) {
  const dir = scratchDir(`scaling-${world}`);
  const job = testJob(
    dir,
    {
      name: `scaling-${world}`,
      corpus: { train: join(root, 'examples/corpus/grimm/train.txt'), valid: join(root, 'examples/corpus/grimm/valid.txt'), cache_dir: join(dir, 'cache') },
      model: { config: { hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024, max_position_embeddings: 128 } },
    },
    { seq_len: 128, micro_batch: 4, global_batch: 16, max_steps: STEPS, warmup_steps: 1, eval_interval: 0, max_eval_samples: 4, log_interval: 1000 },
  );
  const submitted = performance.now();
  const id = await cluster.client.submit(job, { worldSize: world });
  let firstStep = NaN;
  const seconds: number[] = [];
  for await (const e of cluster.client.events(id, 200)) {
    if (e.type === 'progress') {
      if (Number.isNaN(firstStep)) firstStep = (performance.now() - submitted) / 1000;
      seconds[(e.progress.step as number) - 1] = e.progress.seconds as number;
    }
    if (e.type === 'failed') throw new Error(e.reason);
    if (e.type === 'completed') break;
  }
  const timed = seconds.slice(1).filter((x) => x !== undefined); // step 1 is warm-up
  const perStep = timed.reduce((a, b) => a + b, 0) / timed.length;
  return { stepsPerSec: 1 / perStep, perStep, firstStep };
}

try {
  const one = await run(1);
  const two = await run(2);
  console.log(`bench:scaling — small BERT, global batch 16 (micro 4 × seq 128), ${STEPS} steps (first excluded), shm all-reduce`);
  console.log(`1 worker : ${one.stepsPerSec.toFixed(3)} steps/s (${one.perStep.toFixed(2)} s/step, accumulation 4); submit → first step ${one.firstStep.toFixed(1)} s`);
  console.log(`2 workers: ${two.stepsPerSec.toFixed(3)} steps/s (${two.perStep.toFixed(2)} s/step, accumulation 2); submit → first step ${two.firstStep.toFixed(1)} s`);
  console.log(`data-parallel 2 workers: ${(two.stepsPerSec / (2 * one.stepsPerSec)).toFixed(3)} of linear`);
} finally {
  await cluster.stop();
}

// npm run bench:train — the small BERT for a fixed number of optimizer steps
// (micro-batch 4 × seq 256, accumulation 4) through our trainer, and through a
// PyTorch training loop doing the same work, in the same run (1 thread each).
// Also: the trainer's own overhead (data, masking, logging) as a share of step time.
import { join } from 'node:path';
import { prepareRun } from '../train/prepare-run.ts';
import { validateJob } from '../spec/validate-job.ts';
import { createEngine } from '../engine/create-engine.ts';
import type { Engine } from '../engine/engine.ts';
import { SingleProcessSync } from '../train/gradient-sync.ts';
import { RunLogger } from '../train/run-logger.ts';
import { trainRun } from '../train/train-run.ts';
import { scratchDir } from '../test/helpers/torch-reference.ts';
import { runTorchPeer } from './peer.ts';

const STEPS = Number(process.env.BENCH_STEPS ?? 4);
const ACCUM = 4;
const root = new URL('..', import.meta.url).pathname;
const dir = scratchDir('bench-train');
const job = validateJob({
  name: 'bench',
  output_dir: join(dir, 'runs'),
  engine: 'wasm',
  corpus: { train: join(root, 'examples/corpus/grimm/train.txt'), valid: join(root, 'examples/corpus/grimm/valid.txt'), cache_dir: join(dir, 'cache') },
  tokenizer: join(root, 'test/fixtures/bert-base-uncased'),
  model: { config: { hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024, max_position_embeddings: 512 } },
  stages: [{ seq_len: 256, micro_batch: 4, global_batch: 4 * ACCUM, max_steps: STEPS + 1, warmup_steps: 1, max_eval_samples: 4, log_interval: 1000 }],
  keep_last: 0,
});
const spec = await prepareRun(job, 1, () => {});

/** Counts the time spent inside the engine, so the rest of a step is the trainer's. */
function timed(e: Engine): { engine: Engine; inside: () => number } {
  let ms = 0;
  const wrap = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A) => {
    const t = performance.now();
    try {
      return await f(...a);
    } finally {
      ms += performance.now() - t;
    }
  };
  const proxy = Object.create(e) as Engine;
  proxy.forwardBackward = wrap(e.forwardBackward.bind(e));
  proxy.optimizerStep = wrap(e.optimizerStep.bind(e));
  return { engine: proxy, inside: () => ms };
}

const base = await createEngine('wasm', { config: spec.modelConfig, seed: 0 });
const { engine, inside } = timed(base);
let insideAtWarm = 0;
const sink = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const result = await trainRun(spec, {
  engine,
  sync: new SingleProcessSync(),
  resume: false,
  logger: new RunLogger(null, sink),
  onStep: (s) => {
    if (s.step === 1) insideAtWarm = inside();
  },
  stepLimit: STEPS + 1,
});
const steps = result.stepSeconds.slice(1); // step 1 is warm-up
const stepSec = steps.reduce((a, b) => a + b, 0) / steps.length;
const engineSec = (inside() - insideAtWarm) / 1000 / steps.length;
const tokensPerStep = 4 * 256 * ACCUM;
const ours = tokensPerStep / stepSec;
const peer = runTorchPeer(spec.modelConfig, ['train', 4, 256, ACCUM, STEPS])[0]!;
const torchTps = peer.tokens_per_s as number;
console.log(`bench:train — small BERT (4 layers, hidden 256, vocab ${spec.modelConfig.vocab_size}), 4x256, accumulation ${ACCUM}, ${STEPS} timed steps, 1 thread`);
console.log(`gradpool trainer (tfjs/${base.info.backend}): ${ours.toFixed(0)} tokens/s (${stepSec.toFixed(2)} s/step)`);
console.log(`python torch loop:         ${torchTps.toFixed(0)} tokens/s (${(peer.seconds_per_step as number).toFixed(2)} s/step)`);
console.log(`trainer overhead (data, masking, logging outside the engine): ${(((stepSec - engineSec) / stepSec) * 100).toFixed(2)}% of step time`);
console.log(`train ratio vs torch (small, 4x256): ${(ours / torchTps).toFixed(3)}`);
base.dispose();

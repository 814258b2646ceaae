// gpu:check: timed training steps of the libtorch engine (forward, backward,
// clip, AdamW; bf16 mixed precision on CUDA), BERT-base unless told smaller.
// Prints { tokensPerSecond, stepMs, params } as JSON.
//
//   node step-engine.mjs '{"device":"cuda:0","layers":12,"hidden":768,"heads":12,"inter":3072,"seq":256,"micro":32,"warmup":3,"steps":10}'
import { createBertEngine } from './bert-engine.mjs';

// o: the shape; specsFile: bert_specs.py's output for that config.
const o = JSON.parse(process.argv[2]);
const { engine, config, numParams: n } = createBertEngine(o, o.specsFile, o.device, o.threads ?? 4);
const b = syntheticBatch(o.micro, o.seq, config.vocab_size);

/** Full-length sequences, every 7th position masked (step-hf.py masks the same ones). */
function syntheticBatch(micro, seq, vocab) {
  const count = micro * seq;
  const ids = Int32Array.from({ length: count }, (_, i) => 1000 + ((i * 7919) % (vocab - 1000)));
  const positions = Int32Array.from({ length: Math.ceil(count / 7) }, (_, k) => 7 * k);
  return { ids, tt: new Int32Array(count), am: new Int32Array(count).fill(1), positions, labels: positions.map((p) => ids[p]) };
}
const step = (k) => {
  engine.zeroGrad();
  engine.forwardBackward(b.ids, b.tt, b.am, o.micro, o.seq, b.positions, b.labels, true, 0, k);
  engine.optimizerStep(1e-4, 0.9, 0.999, 1e-8, 0.01, 1.0, 1 / b.positions.length);
};
for (let k = 0; k < o.warmup; k++) step(k);
const t0 = performance.now();
for (let k = 0; k < o.steps; k++) step(o.warmup + k);
const ms = (performance.now() - t0) / o.steps;
console.log(JSON.stringify({ tokensPerSecond: (o.micro * o.seq * 1000) / ms, stepMs: ms, params: n }));

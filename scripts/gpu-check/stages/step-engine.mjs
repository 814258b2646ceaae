// gpu:check: timed training steps of the libtorch engine (forward, backward,
// clip, AdamW; bf16 mixed precision on CUDA), BERT-base unless told smaller.
// Prints { tokensPerSecond, stepMs, params } as JSON.
//
//   node step-engine.mjs '{"device":"cuda:0","layers":12,"hidden":768,"heads":12,"inter":3072,"seq":256,"micro":32,"warmup":3,"steps":10}'
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './lib.mjs';

// o: the shape; specsFile: bert_specs.py's output for that config.
const o = JSON.parse(process.argv[2]);
const { TorchEngine } = createRequire(import.meta.url)(join(ROOT, 'native/torch/build/Release/gradpool_torch.node'));
const config = {
  vocab_size: 30522, hidden_size: o.hidden, num_hidden_layers: o.layers, num_attention_heads: o.heads,
  intermediate_size: o.inter, max_position_embeddings: 512, type_vocab_size: 2, layer_norm_eps: 1e-12,
  pad_token_id: 0, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1,
};
const { specs, size: n } = JSON.parse(readFileSync(o.specsFile, 'utf8'));
// Values do not matter for speed; N(0, 0.02)-sized ones keep the arithmetic ordinary.
const params = new Float32Array(n);
for (let i = 0, x = 12345; i < n; i++) {
  x = (x * 1103515245 + 12345) >>> 0;
  params[i] = ((x / 2 ** 32) - 0.5) * 0.04;
}
for (const s of specs) if (s.name.includes('LayerNorm.weight')) params.fill(1, s.offset, s.offset + s.size);
const engine = new TorchEngine({ config, specs, params, device: o.device, threads: o.threads ?? 4 });
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

// npm run bench:model — one training micro-step (forward + backward) of our
// tfjs engine against the PyTorch reference in the same run, same threads (1).
// Usage: npm run bench:model [-- --iters N] [-- --no-cpu]
import { TfjsEngine } from '../engine/tfjs/tfjs-engine.ts';
import { resolveBertConfig, type BertConfig } from '../model/bert-config.ts';
import { randomBatch } from '../test/helpers/tiny-model.ts';
import { runTorchPeer } from './peer.ts';
import { Rng } from '../common/rng.ts';

const args = process.argv.slice(2);
const iters = Number(args[args.indexOf('--iters') + 1] ?? 3) || 3;
const backend = (args.includes('--backend') ? args[args.indexOf('--backend') + 1] : 'wasm') as 'wasm' | 'cpu';

const models: Record<string, BertConfig> = {
  tiny: resolveBertConfig({ hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 512, vocab_size: 30522 }),
  small: resolveBertConfig({ hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024, vocab_size: 30522 }),
};
const shapes: Array<[number, number]> = [
  [4, 256],
  [4, 128],
];

function mlmBatch(c: BertConfig, b: number, s: number) {
  const batch = randomBatch(c, b, s, 1);
  const rng = new Rng(2);
  batch.attentionMask.fill(1);
  for (let i = 0; i < b * s; i++) batch.labels[i] = rng.next() < 0.15 ? batch.inputIds[i]! : -100;
  return batch;
}

console.log(`bench:model — micro-step (forward+backward), ${iters} iterations after warm-up, 1 thread each`);
console.log('model  shape   engine        tokens/s   torch tokens/s (masked head | full logits)   ratio');
let summary = NaN;
for (const [name, config] of Object.entries(models)) {
  const engine = await TfjsEngine.create({ config, seed: 0, backend });
  for (const [b, s] of shapes) {
    const batch = mlmBatch(config, b, s);
    await engine.forwardBackward(batch, true);
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) {
      engine.zeroGrad();
      await engine.forwardBackward(batch, true);
    }
    const ours = (b * s) / ((performance.now() - t0) / 1000 / iters);
    const peer = runTorchPeer(config, ['model', b, s, iters]);
    const masked = peer.find((p) => p.variant === 'masked-head')!.tokens_per_s as number;
    const full = peer.find((p) => p.variant === 'full-logits')!.tokens_per_s as number;
    const ratio = ours / masked;
    if (name === 'small' && b === 4 && s === 256) summary = ratio;
    console.log(
      `${name.padEnd(6)} ${`${b}x${s}`.padEnd(7)} tfjs/${engine.info.backend.padEnd(8)} ${ours.toFixed(0).padStart(8)}   ` +
        `${masked.toFixed(0).padStart(8)} | ${full.toFixed(0).padStart(8)}                      ${ratio.toFixed(3)}`,
    );
  }
  engine.dispose();
}
console.log('(ratio = ours / torch with the same masked-only head; full logits is what HF BertForMaskedLM computes)');
console.log(`model-step ratio vs torch (small, 4x256): ${summary.toFixed(3)}`);

// npm run bench:engines — one training step (forward + backward + clip + AdamW) per
// micro-batch of the small BERT, same threads (1) for every contender, in one run:
// the libtorch engine, the tfjs wasm engine and the Python PyTorch loop.
// Then the gradient sync: 2 ranks over shm, host all-reduce after backward against the torch
// engine's bucketed all-reduce overlapped with backward, and the share of it hidden.
// Usage: npm run bench:engines [-- --iters N] [-- --no-wasm] [-- --no-sync]
import { Rng } from '../common/rng.ts';
import type { Engine, MlmBatch } from '../engine/engine.ts';
import { TfjsEngine } from '../engine/tfjs/tfjs-engine.ts';
import { tryLoadTorchAddon } from '../engine/torch/native.ts';
import { TorchEngine } from '../engine/torch/torch-engine.ts';
import { resolveBertConfig, type BertConfig } from '../model/bert-config.ts';
import { randomBatch } from '../test/helpers/tiny-model.ts';
import { benchGradSync } from './grad-sync.ts';
import { runTorchPeer } from './peer.ts';

const args = process.argv.slice(2);
const iters = Number(args[args.indexOf('--iters') + 1] ?? 5) || 5;
const B = 4;
const S = 256;
const config = resolveBertConfig({ hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024, vocab_size: 30522 });
const hyper = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1, gradScale: 1 };

function mlmBatch(c: BertConfig, b: number, s: number): MlmBatch {
  const batch = randomBatch(c, b, s, 1);
  const rng = new Rng(2);
  batch.attentionMask.fill(1);
  for (let i = 0; i < b * s; i++) batch.labels[i] = rng.next() < 0.15 ? batch.inputIds[i]! : -100;
  return batch;
}

/** Tokens/s of zeroGrad + forwardBackward + optimizerStep, after one warm-up step. */
async function trainStep(engine: Engine, batch: MlmBatch): Promise<{ tokensPerS: number; fbShare: number }> {
  const step = async () => {
    engine.zeroGrad();
    const t = performance.now();
    const r = await engine.forwardBackward(batch, true);
    const fb = performance.now() - t;
    await engine.optimizerStep({ ...hyper, gradScale: 1 / r.maskedTokens });
    return fb;
  };
  await step();
  let fb = 0;
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) fb += await step();
  const total = performance.now() - t0;
  return { tokensPerS: (B * S) / (total / 1000 / iters), fbShare: fb / total };
}

const batch = mlmBatch(config, B, S);
console.log(`bench:engines — small BERT (4 layers, hidden 256, vocab 30522), micro-batch ${B}x${S}, ` +
  `train step (forward+backward+clip+AdamW), ${iters} iterations after warm-up, 1 thread each`);
const row = (name: string, tps: number, note = '') => console.log(`${name.padEnd(34)} ${tps.toFixed(0).padStart(8)} tokens/s  ${note}`);

let torchTps = NaN;
const loaded = tryLoadTorchAddon();
if (loaded.addon) {
  const engine = await TorchEngine.create({ config, seed: 0, device: 'cpu', threads: 1 });
  const r = await trainStep(engine, batch);
  torchTps = r.tokensPerS;
  row(`torch engine (${engine.info.versions.libtorch}, cpu)`, torchTps, `(forward+backward ${(100 * r.fbShare).toFixed(0)}% of the step)`);
  engine.dispose();
} else {
  console.log(`torch engine: SKIPPED (${loaded.error})`);
}

if (!args.includes('--no-wasm')) {
  const engine = await TfjsEngine.create({ config, seed: 0, backend: 'wasm' });
  const r = await trainStep(engine, batch);
  row(`tfjs/${engine.info.backend} engine`, r.tokensPerS, `(forward+backward ${(100 * r.fbShare).toFixed(0)}% of the step)`);
  engine.dispose();
}

const train = runTorchPeer(config, ['train', B, S, 1, iters]).find((p) => p.variant === 'train')!.tokens_per_s as number;
row('python torch, train loop', train, '(bench/torch_step.py train: masked head, clip, torch.optim.AdamW)');
const model = runTorchPeer(config, ['model', B, S, iters]).find((p) => p.variant === 'masked-head')!.tokens_per_s as number;
row('python torch, forward+backward only', model, '(bench/torch_step.py model: masked head, no optimizer)');
console.log(`torch engine vs python torch forward+backward only (small, 4x256): ${(torchTps / model).toFixed(3)}`);
console.log(`torch engine vs python torch (small, 4x256): ${(torchTps / train).toFixed(3)}`);

if (loaded.addon && !args.includes('--no-sync')) {
  const cfg = { hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024, vocab_size: 30522 };
  const g = await benchGradSync({ iters, B, S, config: cfg, bucketBytes: 25 * 2 ** 20 });
  console.log(`gradient sync, 2 ranks over shm (${(g.numParams / 1e6).toFixed(1)} M parameters, ${g.buckets} bucket(s) of up to 25 MiB), ` +
    `forward+backward+sum per step, mean of ${iters} after warm-up:`);
  console.log(`  host all-reduce after backward       ${g.hostStepMs.toFixed(0).padStart(6)} ms/step (all-reduce ${g.hostCommMs.toFixed(0)} ms, all exposed)`);
  console.log(`  engine buckets during backward       ${g.bucketedStepMs.toFixed(0).padStart(6)} ms/step (all-reduce busy ${g.commMs.toFixed(0)} ms, ${g.hiddenMs.toFixed(0)} ms of it before backward returned)`);
  console.log(`all-reduce hidden behind backward: ${(100 * (g.commMs > 0 ? g.hiddenMs / g.commMs : 0)).toFixed(0)}% (measured in this run); ` +
    `step time bucketed vs host path: ${(g.bucketedStepMs / g.hostStepMs).toFixed(3)}`);
}

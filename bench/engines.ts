// npm run bench:engines — one training step (forward + backward + clip + AdamW) per
// micro-batch of the small BERT, same threads (1) for every contender, in one run:
// the libtorch engine, the tfjs wasm engine and the Python PyTorch loop.
// Then the gradient sync: 2 ranks over shm, host all-reduce after backward against the torch
// engine's bucketed all-reduce overlapped with backward, and the share of it hidden.
// Then ModernBERT on the torch engine: unpadded (packed real tokens) vs padded ([B, S]
// with a mask), on right-padded batches of mixed lengths, in real tokens per second.
// Usage: npm run bench:engines [-- --iters N] [-- --no-wasm] [-- --no-sync] [-- --modernbert-only]
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

const row = (name: string, tps: number, note = '') => console.log(`${name.padEnd(34)} ${tps.toFixed(0).padStart(8)} tokens/s  ${note}`);
const loaded = tryLoadTorchAddon();
if (args.includes('--modernbert-only')) {
  await modernbertUnpadded();
  process.exit(0);
}

const batch = mlmBatch(config, B, S);
console.log(`bench:engines — small BERT (4 layers, hidden 256, vocab 30522), micro-batch ${B}x${S}, ` +
  `train step (forward+backward+clip+AdamW), ${iters} iterations after warm-up, 1 thread each`);

let torchTps = NaN;
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

await modernbertUnpadded();

/**
 * ModernBERT (torch engine only): the same right-padded batch of mixed lengths trained
 * unpadded (Linear layers on the real tokens only, attention per packed sequence, as
 * Hugging Face's flash-attention path) and padded ([B, S] with a mask, its SDPA path).
 * Both use the real sliding window (a band of local_attention + 1 keys) in local layers.
 */
async function modernbertUnpadded(): Promise<void> {
  if (!loaded.addon) {
    console.log(`modernbert: SKIPPED (${loaded.error})`);
    return;
  }
  const mb = resolveBertConfig({
    model_type: 'modernbert', hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 384,
    vocab_size: 30522, pad_token_id: 0, global_attn_every_n_layers: 2, local_attention: 128, max_position_embeddings: 1024,
  });
  const S = 512;
  const lengths = [S, Math.round(S * 0.6), Math.round(S * 0.35), Math.round(S * 0.15)];
  const b = mlmBatch(mb, lengths.length, S);
  lengths.forEach((n, r) => {
    for (let j = n; j < S; j++) {
      b.inputIds[r * S + j] = 0;
      b.attentionMask[r * S + j] = 0;
      b.labels[r * S + j] = -100;
    }
  });
  const real = lengths.reduce((a, n) => a + n, 0);
  console.log(`\nbench:engines — small ModernBERT (4 layers, hidden 256, window 128, every 2nd layer global), ${lengths.length}x${S} ` +
    `right-padded to lengths ${lengths.join('/')} (${((100 * real) / (lengths.length * S)).toFixed(0)}% real tokens), torch engine, 1 thread`);
  const measure = async (unpadded: boolean) => {
    const engine = await TorchEngine.create({ config: mb, seed: 0, device: 'cpu', threads: 1, unpadded });
    const step = async () => {
      engine.zeroGrad();
      const r = await engine.forwardBackward(b, true);
      await engine.optimizerStep({ ...hyper, gradScale: 1 / r.maskedTokens });
    };
    await step();
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) await step();
    engine.dispose();
    return real / ((performance.now() - t0) / 1000 / iters);
  };
  const padded = await measure(false);
  const unpadded = await measure(true);
  row('modernbert padded ([B,S] + mask)', padded, '(real tokens/s)');
  row('modernbert unpadded (packed)', unpadded, '(real tokens/s)');
  console.log(`modernbert unpadded vs padded (small, ${lengths.length}x${S}, ${((100 * real) / (lengths.length * S)).toFixed(0)}% real): ${(unpadded / padded).toFixed(3)}`);
}

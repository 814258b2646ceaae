import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { TfjsEngine } from '../../engine/tfjs/tfjs-engine.ts';
import { TorchEngine } from '../../engine/torch/torch-engine.ts';
import { randomBatch, tinyConfig } from '../helpers/tiny-model.ts';
import { relativeError } from '../helpers/torch-reference.ts';
import { torchSkip } from './torch-available.ts';

const skip = torchSkip();
/** Two float32 engines on the same weights; measured: loss, probabilities and logits within 3e-7. */
const TOL = 3e-6;

test('torch: evaluate, topK and logits agree with the tfjs/wasm engine on the same weights', { skip }, async () => {
  const config = tinyConfig();
  const ref = await TfjsEngine.create({ config, seed: 21, backend: 'wasm' });
  const engine = await TorchEngine.create({ config, seed: 0, device: 'cpu', threads: 1, weights: ref.stateDict(), weightsSource: 'tfjs' });
  assert.deepEqual(engine.parameters(), ref.parameters());
  const batch = randomBatch(config, 3, 20, 4);

  const [a, b] = [await engine.evaluate(batch), await ref.evaluate(batch)];
  assert.equal(a.maskedTokens, b.maskedTokens);
  assert.deepEqual(a.labels, b.labels);
  const lossErr = Math.abs(a.lossSum - b.lossSum) / Math.abs(b.lossSum);
  assert.ok(lossErr <= TOL, `loss ${a.lossSum} vs ${b.lossSum}`);
  assert.deepEqual(a.top1, b.top1);
  assert.deepEqual(a.top10Hit, b.top10Hit);
  assert.equal(a.allTokensCount, b.allTokensCount);
  assert.equal(a.allTokensCorrect, b.allTokensCorrect);

  const positions = [0, 5, 41];
  const [ta, tb] = [await engine.topK(batch, positions, 5), await ref.topK(batch, positions, 5)];
  assert.deepEqual(ta.positions, positions);
  assert.deepEqual(ta.ids, tb.ids);
  const probErr = relativeError(ta.probs, tb.probs);
  assert.ok(probErr < TOL, `top-k probabilities: relative error ${probErr}`);
  for (let i = 0; i < positions.length; i++) assert.ok(ta.probs[i * 5]! >= ta.probs[i * 5 + 1]!);

  const la = await engine.logits(batch);
  assert.equal(la.length, 3 * 20 * config.vocab_size);
  const logitErr = relativeError(la, await ref.logits(batch));
  assert.ok(logitErr < TOL, `logits: relative error ${logitErr}`);
  console.log(`# torch vs tfjs/wasm: loss ${lossErr.toExponential(2)}, top-k probabilities ${probErr.toExponential(2)}, logits ${logitErr.toExponential(2)}`);

  // A batch with nothing masked: no loss, no gradient.
  const none = { ...batch, labels: new Int32Array(batch.labels.length).fill(-100) };
  engine.zeroGrad();
  assert.deepEqual(await engine.forwardBackward(none, true), { lossSum: 0, maskedTokens: 0 });
  assert.ok(engine.gradients().every((x) => x === 0));
  assert.equal((await engine.evaluate(none)).maskedTokens, 0);
  await assert.rejects(engine.forwardBackward({ ...batch, seqLen: 100, batchSize: 1 }, true), /length/);
  engine.dispose();
  ref.dispose();
});

test('torch: memory stays flat over 50 training steps', { skip }, async () => {
  const config = tinyConfig({ vocab_size: 2000, hidden_size: 64, intermediate_size: 256 });
  const engine = await TorchEngine.create({ config, seed: 1, device: 'cpu', threads: 1 });
  const batch = randomBatch(config, 4, 32, 3);
  const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1, gradScale: 0.05 };
  const step = async () => {
    engine.zeroGrad();
    await engine.forwardBackward(batch, true);
    engine.gradients();
    await engine.optimizerStep(h);
    await engine.evaluate(batch);
  };
  for (let i = 0; i < 10; i++) await step();
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 50; i++) await step();
  const grown = process.memoryUsage().rss - before;
  // The model's tensors are ~3 MB; a leak of one step's activations would add ~50× that.
  assert.ok(grown < 16 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(1)} MB over 50 steps`);
  engine.dispose();
});

test('a missing torch build is one clear error naming the build command (and "auto" falls back to tfjs)', () => {
  const script = `
    import { createEngine } from './engine/create-engine.ts';
    import { tinyConfig } from './test/helpers/tiny-model.ts';
    const config = tinyConfig();
    try { await createEngine('torch', { config, seed: 1 }); console.log('created'); }
    catch (e) { console.log('ERR ' + e.message); }
    const auto = await createEngine('auto', { config, seed: 1 });
    console.log('AUTO ' + auto.info.engine);
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: new URL('../../', import.meta.url).pathname,
    env: { ...process.env, GRADPOOL_TORCH_ADDON: '/nonexistent/gradpool_torch.node' },
    encoding: 'utf8',
  });
  assert.match(out, /ERR engine torch: the torch engine addon is not built \(\/nonexistent\/gradpool_torch\.node is missing\).*native\/torch\/build\.mjs/);
  assert.match(out, /AUTO tfjs/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TorchEngine } from '../../engine/torch/torch-engine.ts';
import { checkParityWithTorch, TORCH_PARITY } from '../helpers/parity.ts';
import { randomBatch, tinyConfig } from '../helpers/tiny-model.ts';
import { torchSkip } from './torch-available.ts';

const skip = torchSkip();

test('torch (cpu, float32): logits, loss and every gradient match PyTorch', { skip }, async () => {
  const config = tinyConfig();
  const engine = await TorchEngine.create({ config, seed: 11, device: 'cpu', threads: 1 });
  assert.equal(engine.info.engine, 'torch');
  await checkParityWithTorch(engine, config, TORCH_PARITY, 'torch');
  engine.dispose();
});

test('torch: gradients() is one zero-copy buffer that accumulates across micro-batches', { skip }, async () => {
  const config = tinyConfig();
  const engine = await TorchEngine.create({ config, seed: 3, device: 'cpu', threads: 1 });
  const g = engine.gradients();
  assert.equal(g.length, engine.numParams);
  assert.equal(engine.gradients(), g, 'the same array every call');
  const a = randomBatch(config, 2, 16, 1);
  const b = randomBatch(config, 2, 16, 2);
  await engine.forwardBackward(a, false);
  const ga = g.slice();
  engine.zeroGrad();
  assert.ok(g.every((x) => x === 0), 'zeroGrad clears the shared view');
  await engine.forwardBackward(b, false);
  const gb = g.slice();
  engine.zeroGrad();
  await engine.forwardBackward(a, false);
  await engine.forwardBackward(b, false);
  let worst = 0;
  for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i]! - (ga[i]! + gb[i]!)));
  console.log(`# accumulation into the flat buffer: worst ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-6, `accumulated gradient off by ${worst}`); // float32 sums in another order: measured 1.2e-7
  assert.equal(engine.stats().gradRebinds, 0, 'autograd accumulated into the flat buffer in place');
  // Writes through the view are what the optimizer sees (the all-reduce works in place).
  g.fill(0);
  const before = engine.parameters();
  await engine.optimizerStep({ lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0, gradScale: 1 });
  assert.deepEqual(engine.parameters(), before, 'zero gradient, no decay: no change');
  // Dropout on: two identical seeds replay, train differs from eval.
  engine.zeroGrad();
  const s = engine.rngState();
  const l1 = (await engine.forwardBackward(a, true)).lossSum;
  engine.setRngState(s);
  const l2 = (await engine.forwardBackward(a, true)).lossSum;
  const l3 = (await engine.forwardBackward(a, false)).lossSum;
  assert.equal(l1, l2);
  assert.notEqual(l1, l3);
  engine.dispose();
  assert.throws(() => engine.parameters(), /after dispose/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { TfjsEngine } from '../../engine/tfjs/tfjs-engine.ts';
import { randomBatch, tinyConfig } from '../helpers/tiny-model.ts';

test('tf.memory().numTensors stays flat over 50 forward/backward passes, steps and evaluations', async () => {
  const config = tinyConfig();
  const engine = await TfjsEngine.create({ config, seed: 1, backend: 'wasm' });
  const batch = randomBatch(config, 2, 32, 3);
  const step = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1, gradScale: 1 / 20 };
  // One warm-up round: the transposed-weight cache and backend scratch are allocated once.
  await engine.forwardBackward(batch, true);
  await engine.optimizerStep(step);
  await engine.evaluate(batch);
  const before = tf.memory().numTensors;
  const losses: number[] = [];
  for (let i = 0; i < 50; i++) {
    engine.zeroGrad();
    losses.push((await engine.forwardBackward(batch, true)).lossSum);
    await engine.optimizerStep(step);
    if (i % 10 === 0) await engine.evaluate(batch);
  }
  await engine.topK(batch, [1, 2], 5);
  assert.equal(tf.memory().numTensors, before);
  // And the passes did train: the same batch's loss falls.
  assert.ok(losses[49]! < losses[0]! * 0.7, `loss ${losses[0]} → ${losses[49]}`);
  engine.dispose();
});

test('classification: numTensors stays flat over 50 weighted, smoothed steps and evaluations, and across setModel', async () => {
  const config = tinyConfig();
  const head = { kind: 'classification', numLabels: 3 } as const;
  const engine = await TfjsEngine.create({ config, head, seed: 2, backend: 'wasm' });
  const batch = { ...randomBatch(config, 4, 24, 5), labels: Int32Array.from([0, 2, 1, 2]) };
  const loss = { classWeights: Float32Array.from([0.5, 2, 1]), labelSmoothing: 0.1 };
  const step = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1, gradScale: 1 / 4 };
  await engine.forwardBackwardClassify(batch, loss, true);
  await engine.optimizerStep(step);
  await engine.classify(batch, loss);
  const before = tf.memory().numTensors;
  const losses: number[] = [];
  for (let i = 0; i < 50; i++) {
    engine.zeroGrad();
    losses.push((await engine.forwardBackwardClassify(batch, loss, true)).lossSum);
    await engine.optimizerStep(step);
    if (i % 10 === 0) await engine.classify(batch, loss);
  }
  await engine.classify(batch, loss);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(losses[49]! < losses[0]! * 0.5, `loss ${losses[0]} → ${losses[49]}`);
  // A new model replaces the old one's variables; coming back gives the same count.
  const mlm = await TfjsEngine.create({ config, seed: 3, backend: 'wasm' });
  const mlmWeights = mlm.stateDict();
  mlm.dispose();
  const cls = engine.stateDict();
  engine.setModel({ kind: 'mlm' }, mlmWeights, 'mlm');
  engine.setModel(head, cls, 'classifier');
  await engine.forwardBackwardClassify(batch, loss, true);
  await engine.optimizerStep(step);
  await engine.classify(batch, loss);
  assert.equal(tf.memory().numTensors, before);
  engine.dispose();
});

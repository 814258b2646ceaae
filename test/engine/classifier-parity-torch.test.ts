import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TorchEngine } from '../../engine/torch/torch-engine.ts';
import { checkClassifierParity } from '../helpers/classifier-parity.ts';
import { TORCH_PARITY } from '../helpers/parity.ts';
import { randomBatch, tinyConfig } from '../helpers/tiny-model.ts';
import { torchSkip } from './torch-available.ts';

// The classifier meets the MLM model's tolerances (helpers/parity.ts); measured here:
// logits, loss and every gradient 0 (the same ATen kernels in the same order as PyTorch).
test('torch classifier (cpu, float32): logits, loss (class weights, smoothing) and every gradient match PyTorch', { skip: torchSkip() }, async () => {
  const config = tinyConfig();
  const engine = await TorchEngine.create({ config, head: { kind: 'classification', numLabels: 3 }, seed: 11, device: 'cpu', threads: 1 });
  await checkClassifierParity(engine, config, TORCH_PARITY, 'torch');
  await assert.rejects(engine.evaluate(randomBatch(config, 1, 8, 1)), /sequence classifier, not a masked-LM model/);
  engine.dispose();
});

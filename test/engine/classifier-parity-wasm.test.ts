import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TfjsEngine } from '../../engine/tfjs/tfjs-engine.ts';
import { checkClassifierParity } from '../helpers/classifier-parity.ts';
import { TFJS_PARITY } from '../helpers/parity.ts';
import { tinyConfig } from '../helpers/tiny-model.ts';

// The classifier meets the MLM model's tolerances (helpers/parity.ts); measured here:
// logits 2.1e-7, loss 0, worst gradient 7.9e-7 (weighted and smoothed; plain: 7.6e-7).
test('tfjs/wasm classifier: logits, loss (class weights, smoothing) and every gradient match PyTorch', async () => {
  const config = tinyConfig();
  const engine = await TfjsEngine.create({ config, head: { kind: 'classification', numLabels: 3 }, seed: 11, backend: 'wasm' });
  await checkClassifierParity(engine, config, TFJS_PARITY, 'tfjs/wasm');
  await assert.rejects(engine.evaluate({ ...(await import('../helpers/tiny-model.ts')).randomBatch(config, 1, 8, 1) }), /sequence classifier, not a masked-LM model/);
  engine.dispose();
});

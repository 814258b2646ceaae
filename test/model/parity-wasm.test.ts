import { test } from 'node:test';
import { TfjsEngine } from '../../gpu-worker/engine/tfjs/tfjs-engine.ts';
import { checkParityWithTorch } from '../helpers/parity.ts';
import { tinyConfig } from '../helpers/tiny-model.ts';

// One backend per test file: tfjs backends are process-wide.
test('tfjs/wasm: logits, loss and every gradient match PyTorch', async () => {
  const config = tinyConfig();
  const engine = await TfjsEngine.create({ config, seed: 11, backend: 'wasm' });
  await checkParityWithTorch(engine, config, { logits: 1e-4, grads: 1e-3 }, 'tfjs/wasm');
  engine.dispose();
});

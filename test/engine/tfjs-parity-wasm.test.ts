import { test } from 'node:test';
import { TfjsEngine } from '../../engine/tfjs/tfjs-engine.ts';
import { checkParityWithTorch, TFJS_PARITY } from '../helpers/parity.ts';
import { tinyConfig } from '../helpers/tiny-model.ts';

// One backend per test file: tfjs backends are process-wide.
test('tfjs/wasm: logits, loss and every gradient match PyTorch', async () => {
  const config = tinyConfig();
  const engine = await TfjsEngine.create({ config, seed: 11, backend: 'wasm' });
  await checkParityWithTorch(engine, config, TFJS_PARITY, 'tfjs/wasm');
  engine.dispose();
});

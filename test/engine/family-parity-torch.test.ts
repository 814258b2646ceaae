import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TorchEngine } from '../../engine/torch/torch-engine.ts';
import { checkFamilyParity, familyBatch, tinyFamilyConfig } from '../helpers/family-parity.ts';
import { TORCH_PARITY } from '../helpers/parity.ts';
import { torchSkip } from './torch-available.ts';

const skip = torchSkip();

for (const family of ['distilbert', 'roberta']) {
  test(`torch ${family} (cpu, float32): logits, loss and every gradient match the PyTorch reference`, { skip }, async () => {
    const config = tinyFamilyConfig(family);
    const engine = await TorchEngine.create({ config, seed: 11, device: 'cpu', threads: 1 });
    await checkFamilyParity(engine, config, TORCH_PARITY, `torch ${family}`);
    engine.dispose();
  });
}

test('torch modernbert: unpadded and padded attention both match the reference, at 24 tokens over a window of 8', { skip }, async () => {
  const config = tinyFamilyConfig('modernbert');
  for (const unpadded of [true, false]) {
    const engine = await TorchEngine.create({ config, seed: 11, device: 'cpu', threads: 1, unpadded });
    await checkFamilyParity(engine, config, TORCH_PARITY, `torch modernbert ${unpadded ? 'unpadded' : 'padded'}`);
    engine.dispose();
  }
});

test('torch modernbert with every optional bias (norm_bias, attention_bias, mlp_bias, classifier_bias)', { skip }, async () => {
  const config = tinyFamilyConfig('modernbert', { norm_bias: true, attention_bias: true, mlp_bias: true, classifier_bias: true });
  const engine = await TorchEngine.create({ config, seed: 12, device: 'cpu', threads: 1 });
  await checkFamilyParity(engine, config, TORCH_PARITY, 'torch modernbert with biases');
  engine.dispose();
});

test('torch modernbert: the local window is real: a token beyond it does not move the output, one inside it does', { skip }, async () => {
  const config = tinyFamilyConfig('modernbert', { num_hidden_layers: 1, global_attn_every_n_layers: 2, layer_types: ['sliding_attention'] });
  const engine = await TorchEngine.create({ config, seed: 3, device: 'cpu', threads: 1 });
  const b = familyBatch(config, 1, 32, 7);
  b.attentionMask.fill(1);
  for (let i = 0; i < 32; i++) if (b.inputIds[i] === config.pad_token_id) b.inputIds[i] = 5;
  const before = await engine.logits(b);
  const far = { ...b, inputIds: b.inputIds.slice() };
  far.inputIds[31] = far.inputIds[31] === 9 ? 10 : 9; // 31 − 0 > 4: outside token 0's window
  const after = await engine.logits(far);
  const V = config.vocab_size;
  assert.deepEqual(after.subarray(0, V), before.subarray(0, V), 'token 0 is blind to token 31 in a local layer');
  assert.notDeepEqual(after.subarray(27 * V, 28 * V), before.subarray(27 * V, 28 * V), 'token 27 sees token 31');
  engine.dispose();
});

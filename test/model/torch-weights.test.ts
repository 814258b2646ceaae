import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSafetensors, writeSafetensors } from '../../model/formats/safetensors.ts';
import { TfjsEngine } from '../../engine/tfjs/tfjs-engine.ts';
import { batchToJson } from '../helpers/parity.ts';
import { randomBatch, tinyConfig } from '../helpers/tiny-model.ts';
import { runReference, scratchDir } from '../helpers/torch-reference.ts';

test('weights initialised and written by PyTorch load into ours and give the same loss', async () => {
  const config = tinyConfig();
  const dir = scratchDir('torch-init');
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'init.json'), JSON.stringify({ seed: 3 }));
  runReference('init', dir);
  const torchWeights = readSafetensors(join(dir, 'torch_weights.safetensors')).tensors;
  const words = torchWeights.get('bert.embeddings.word_embeddings.weight')!;
  assert.deepEqual(words.shape, [config.vocab_size, config.hidden_size]);
  assert.ok(words.data.subarray(0, config.hidden_size).every((x) => x === 0), 'padding row is zero');
  const engine = await TfjsEngine.create({ config, seed: 0, weights: torchWeights, weightsSource: 'torch' });
  const batch = randomBatch(config, 2, 16, 9);
  writeSafetensors(join(dir, 'weights.safetensors'), torchWeights);
  writeFileSync(join(dir, 'batch.json'), JSON.stringify(batchToJson(batch)));
  runReference('forward', dir);
  const refLoss = readSafetensors(join(dir, 'ref.safetensors')).tensors.get('loss_sum')!.data[0]!;
  const ours = await engine.evaluate(batch);
  const err = Math.abs(ours.lossSum - refLoss) / refLoss;
  console.log(`# tfjs on torch's initial weights: loss relative error ${err.toExponential(2)}`);
  assert.ok(err < 1e-6, `loss ${ours.lossSum} vs torch ${refLoss}`); // measured 1e-7 or less
  engine.dispose();
});

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSafetensors } from '../../model/formats/safetensors.ts';
import { TfjsEngine } from '../../engine/tfjs/tfjs-engine.ts';
import { loadTorchFile, saveTorchFile, stateDictOf } from '../../model/formats/torch-file.ts';
import { withTiedDecoder } from '../../model/parameters.ts';
import { batchToJson } from '../helpers/parity.ts';
import { randomBatch, tinyConfig } from '../helpers/tiny-model.ts';
import { runReference, scratchDir } from '../helpers/torch-reference.ts';

const config = tinyConfig();

test('our .pth loads with torch.load and BertForMaskedLM.load_state_dict(strict=True), same loss', async () => {
  const dir = scratchDir('pth');
  const engine = await TfjsEngine.create({ config, seed: 21, backend: 'wasm' });
  const batch = randomBatch(config, 2, 16, 1);
  const meta = new Map<string, unknown>([
    ['model', withTiedDecoder(engine.stateDict())],
    ['step', 12],
    ['lr', 0.5],
    ['big', 2 ** 40],
    ['neg', -3],
    ['name', 'stage-0'],
    ['flags', [true, false, null]],
  ]);
  saveTorchFile(join(dir, 'model.pth'), meta as never);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'batch.json'), JSON.stringify(batchToJson(batch)));
  runReference('load_pth', dir);
  const out = JSON.parse(readFileSync(join(dir, 'load_pth.json'), 'utf8'));
  const ours = await engine.evaluate(batch);
  const err = Math.abs(out.loss_sum - ours.lossSum) / ours.lossSum;
  console.log(`# best.pth in torch: loss relative error ${err.toExponential(2)}`);
  assert.ok(err < 1e-6, `torch ${out.loss_sum} vs ours ${ours.lossSum}`); // measured 1e-7 or less
  assert.ok(out.keys.includes('cls.predictions.decoder.weight'));
  assert.deepEqual(out.extra, { step: 12, lr: 0.5, big: 2 ** 40, neg: -3, name: 'stage-0', flags: [true, false, null] });

  // And our reader gets back exactly what was written.
  const back = loadTorchFile(join(dir, 'model.pth')) as Map<string, unknown>;
  assert.equal(back.get('big'), 2 ** 40);
  assert.deepEqual(stateDictOf(back, 'model.pth').get('cls.predictions.bias'), engine.stateDict().get('cls.predictions.bias'));
  engine.dispose();
});

test("a state dict written by torch.save loads into ours (tied copies ignored)", async () => {
  const dir = scratchDir('pth-torch');
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  runReference('save_pth', dir);
  const sd = stateDictOf(loadTorchFile(join(dir, 'torch.pth')), 'torch.pth');
  const expected = readSafetensors(join(dir, 'torch_pth_weights.safetensors')).tensors;
  assert.deepEqual([...sd.keys()], [...expected.keys()]);
  for (const [k, t] of expected) assert.deepEqual(sd.get(k), t, k);
  const engine = await TfjsEngine.create({ config, seed: 0, weights: sd, weightsSource: 'torch.pth', backend: 'wasm' });
  assert.deepEqual(engine.stateDict().get('bert.encoder.layer.1.output.dense.weight'), expected.get('bert.encoder.layer.1.output.dense.weight'));
  engine.dispose();
});

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSafetensors } from '../../model/formats/safetensors.ts';
import type { StateDict } from '../../model/state-dict.ts';
import { TfjsEngine } from '../../engine/tfjs/tfjs-engine.ts';
import { loadHfModel, saveHfModel } from '../../model/hf-folder.ts';
import { bertParamSpecs, initBertWeights, matchStateDict } from '../../model/parameters.ts';
import { tinyConfig } from '../helpers/tiny-model.ts';
import { scratchDir } from '../helpers/torch-reference.ts';

const config = tinyConfig();

test('parameter names and shapes are those of Hugging Face BertForMaskedLM', () => {
  const specs = bertParamSpecs(config);
  const byName = new Map(specs.map((s) => [s.name, s.shape]));
  assert.deepEqual(byName.get('bert.embeddings.word_embeddings.weight'), [257, 32]);
  assert.deepEqual(byName.get('bert.encoder.layer.1.intermediate.dense.weight'), [64, 32]); // [out, in]
  assert.deepEqual(byName.get('bert.encoder.layer.1.output.dense.weight'), [32, 64]);
  assert.deepEqual(byName.get('cls.predictions.bias'), [257]);
  assert.equal(specs.length, 5 + 16 * 2 + 5);
  assert.ok(!specs.find((s) => s.name === 'bert.embeddings.LayerNorm.weight')!.decay);
  assert.ok(specs.find((s) => s.name === 'bert.encoder.layer.0.attention.self.query.weight')!.decay);
});

test('a mismatched checkpoint names every missing, unexpected and mis-shaped tensor', () => {
  const sd: StateDict = initBertWeights(config, 1);
  sd.delete('bert.encoder.layer.1.output.dense.bias');
  sd.set('bert.encoder.layer.0.attention.self.query.weight', { shape: [32, 16], data: new Float32Array(512) });
  sd.set('bert.encoder.layer.7.attention.self.query.weight', { shape: [32, 32], data: new Float32Array(1024) });
  assert.throws(
    () => matchStateDict(config, sd, 'ckpt.safetensors'),
    (e: Error) =>
      /ckpt\.safetensors/.test(e.message) &&
      /missing 1: bert\.encoder\.layer\.1\.output\.dense\.bias/.test(e.message) &&
      /unexpected 1: bert\.encoder\.layer\.7\.attention\.self\.query\.weight/.test(e.message) &&
      /layer\.0\.attention\.self\.query\.weight: checkpoint \[32, 16\], model \[32, 32\]/.test(e.message),
  );
});

test('what Hugging Face itself accepts loads: legacy gamma/beta, no bert. prefix, pooler/NSP head, tied decoder', () => {
  const sd = initBertWeights(config, 2);
  const foreign: StateDict = new Map();
  for (const [k, v] of sd) {
    foreign.set(k.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'), v);
  }
  foreign.set('bert.pooler.dense.weight', { shape: [32, 32], data: new Float32Array(1024) });
  foreign.set('cls.seq_relationship.bias', { shape: [2], data: new Float32Array(2) });
  foreign.set('cls.predictions.decoder.weight', sd.get('bert.embeddings.word_embeddings.weight')!);
  const { tensors, ignored } = matchStateDict(config, foreign, 'bert-base-uncased');
  assert.deepEqual([...tensors.keys()], bertParamSpecs(config).map((s) => s.name));
  assert.deepEqual(tensors.get('bert.embeddings.LayerNorm.weight'), sd.get('bert.embeddings.LayerNorm.weight'));
  assert.deepEqual(ignored.sort(), ['bert.pooler.dense.weight', 'cls.predictions.decoder.weight', 'cls.seq_relationship.bias']);
});

test('a Hugging Face folder round-trips: config, safetensors weights, tokenizer files', async () => {
  const dir = join(scratchDir('hf'), 'model');
  const engine = await TfjsEngine.create({ config, seed: 4, backend: 'wasm' });
  saveHfModel(dir, config, engine.stateDict(), new URL('../fixtures/bert-base-uncased', import.meta.url).pathname);
  const back = loadHfModel(dir);
  assert.equal(back.config.hidden_size, 32);
  assert.deepEqual(back.weights, engine.stateDict());
  const raw = readSafetensors(join(dir, 'model.safetensors'));
  assert.equal(raw.metadata.format, 'pt');
  assert.ok(!raw.tensors.has('cls.predictions.decoder.weight'), 'tied copy is not written, as save_pretrained');
  const again = await TfjsEngine.create({ config: back.config, weights: back.weights, seed: 0, backend: 'wasm' });
  assert.deepEqual(again.parameters(), engine.parameters());
  assert.throws(() => loadHfModel(scratchDir('empty')), /no config\.json/);
  engine.dispose();
  again.dispose();
});

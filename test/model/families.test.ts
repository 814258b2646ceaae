import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveBertConfig } from '../../model/bert-config.ts';
import { localLayers, ropeThetas } from '../../model/families/modernbert.ts';
import { familyOfConfig, SUPPORTED_MODEL_TYPES } from '../../model/families/registry.ts';
import { loadHfModel } from '../../model/hf-folder.ts';
import { bertParamSpecs } from '../../model/parameters.ts';
import { tinyFamilyConfig } from '../helpers/family-parity.ts';
import { runReference, scratchDir } from '../helpers/torch-reference.ts';

test('model_type selects the family; an unknown one is refused, listing the supported ones', () => {
  assert.deepEqual(SUPPORTED_MODEL_TYPES, ['bert', 'distilbert', 'roberta', 'modernbert']);
  assert.throws(() => resolveBertConfig({ model_type: 'electra' }, 'x/config.json'), {
    message: 'x/config.json: model_type "electra" is not supported (supported: bert, distilbert, roberta, modernbert)',
  });
  assert.equal(resolveBertConfig({}).model_type, 'bert', 'files written before families are BERT');
  // The families' own names and defaults.
  const d = resolveBertConfig({ model_type: 'distilbert', dim: 64, n_layers: 3, n_heads: 4, hidden_dim: 128 });
  assert.deepEqual([d.hidden_size, d.num_hidden_layers, d.num_attention_heads, d.intermediate_size, d.layer_norm_eps], [64, 3, 4, 128, 1e-12]);
  const r = resolveBertConfig({ model_type: 'roberta' });
  assert.deepEqual([r.vocab_size, r.max_position_embeddings, r.type_vocab_size, r.layer_norm_eps, r.pad_token_id], [50265, 514, 1, 1e-5, 1]);
  assert.equal(familyOfConfig(r).maxSeqLen(r), 512);
  const m = resolveBertConfig({ model_type: 'modernbert' });
  assert.deepEqual([m.vocab_size, m.num_hidden_layers, m.layer_norm_eps, m.max_position_embeddings, m.pad_token_id], [50368, 22, 1e-5, 8192, 50283]);
  assert.throws(() => resolveBertConfig({ model_type: 'modernbert', hidden_activation: 'gelu_pytorch_tanh' }, 'c'), /hidden_activation "gelu_pytorch_tanh" is not supported/);
});

test('ModernBERT: the transformers 4 and 5 config forms give the same layer plan and rotary bases', () => {
  const v4 = resolveBertConfig({ model_type: 'modernbert', num_hidden_layers: 6, global_attn_every_n_layers: 3 });
  const v5 = resolveBertConfig({
    model_type: 'modernbert', num_hidden_layers: 6,
    layer_types: ['full_attention', 'sliding_attention', 'sliding_attention', 'full_attention', 'sliding_attention', 'sliding_attention'],
    rope_parameters: { full_attention: { rope_theta: 160000, rope_type: 'default' }, sliding_attention: { rope_theta: 10000, rope_type: 'default' } },
  });
  assert.deepEqual(localLayers(v4), [false, true, true, false, true, true]);
  assert.deepEqual(localLayers(v5), localLayers(v4));
  assert.deepEqual(ropeThetas(v5), ropeThetas(v4));
  assert.deepEqual(ropeThetas(v4), { global: 160000, local: 10000 });
});

for (const family of ['bert', 'distilbert', 'roberta', 'modernbert']) {
  test(`${family}: parameter names, shapes and order are the reference's own; its HF folder loads (init_from)`, () => {
    const config = tinyFamilyConfig(family);
    const dir = scratchDir(`family-${family}`);
    const hfConfig = familyOfConfig(config).hfConfig(config);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(hfConfig));
    writeFileSync(join(dir, 'init.json'), JSON.stringify({ seed: 3 }));
    runReference('init', dir, `${family}_ref.py`);
    if (family !== 'bert') {
      runReference('keys', dir, `${family}_ref.py`);
      const keys = JSON.parse(readFileSync(join(dir, 'keys.json'), 'utf8'));
      assert.deepEqual(bertParamSpecs(config).map((s) => s.name), keys.parameters, 'trainable parameters in state_dict order');
      const shapes = new Map<string, number[]>(keys.state_dict.map((k: { name: string; shape: number[] }) => [k.name, k.shape]));
      for (const s of bertParamSpecs(config)) assert.deepEqual(s.shape, shapes.get(s.name), s.name);
      for (const [alias, target] of Object.entries(keys.tied as Record<string, string>)) {
        assert.ok(familyOfConfig(config).tiedAliases.some(([a, t]) => a === alias && t === target), `tied ${alias} → ${target}`);
      }
    }
    // A Hugging Face folder as save_pretrained writes it: config.json (own names) + model.safetensors.
    const hf = join(dir, 'hf');
    mkdirSync(hf);
    writeFileSync(join(hf, 'config.json'), JSON.stringify(hfConfig));
    copyFileSync(join(dir, 'torch_weights.safetensors'), join(hf, 'model.safetensors'));
    const m = loadHfModel(hf);
    assert.equal(m.config.model_type, family);
    assert.deepEqual([...m.weights.keys()], bertParamSpecs(config).map((s) => s.name));
    // No-decay by module kind (biases and every norm), not by the string "LayerNorm".
    for (const s of bertParamSpecs(config)) {
      const isNorm = /(LayerNorm|layer_norm|norm)\.weight$/.test(s.name) || s.name.endsWith('.bias');
      assert.equal(s.decay, !isNorm, `${s.name} decay`);
    }
  });
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TfjsEngine } from '../../engine/tfjs/tfjs-engine.ts';
import { checkFamilyParity, familyBatch, tinyFamilyConfig } from '../helpers/family-parity.ts';
import { TFJS_PARITY } from '../helpers/parity.ts';

// One backend per test file: tfjs backends are process-wide.
for (const family of ['distilbert', 'roberta']) {
  test(`tfjs/wasm ${family}: logits, loss and every gradient match the PyTorch reference`, async () => {
    const config = tinyFamilyConfig(family);
    const engine = await TfjsEngine.create({ config, seed: 11, backend: 'wasm' });
    const batch = familyBatch(config, 3, 24, 5);
    // A real token whose id is the pad id: RoBERTa gives it position pad, and no embedding gradient from that lookup.
    batch.inputIds[3] = config.pad_token_id;
    await checkFamilyParity(engine, config, TFJS_PARITY, `tfjs/wasm ${family}`, batch);
    engine.dispose();
  });
}

test('tfjs: ModernBERT is refused with the reason and the engine that runs it', async () => {
  await assert.rejects(
    TfjsEngine.create({ config: tinyFamilyConfig('modernbert'), seed: 1, backend: 'wasm' }),
    /engine tfjs: model_type modernbert: .*use engine: torch/,
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { createEngine } from '../../engine/create-engine.ts';
import { warmUpEngines } from '../../engine/warm-up.ts';
import { initBertWeights } from '../../model/parameters.ts';
import { tinyConfig } from '../helpers/tiny-model.ts';
import { torchSkip } from './torch-available.ts';

test('warmUpEngines runs every engine this machine has and keeps nothing', async () => {
  const lines: string[] = [];
  const warmed = await warmUpEngines((l) => lines.push(l));
  assert.deepEqual(warmed, torchSkip() ? ['wasm'] : ['torch', 'wasm'], lines.join('\n'));
  assert.equal(tf.memory().numTensors, 0, 'the warm-up engines were disposed');
});

for (const name of ['wasm', ...(torchSkip() ? [] : ['torch'])]) {
  test(`${name}: a placeholder engine holds zeros; the same seed without it draws the random init`, async () => {
    const config = tinyConfig();
    const placeholder = await createEngine(name, { config, seed: 3, placeholder: true });
    const drawn = await createEngine(name, { config, seed: 3 });
    try {
      assert.equal(placeholder.numParams, drawn.numParams);
      assert.ok(placeholder.parameters().every((v) => v === 0));
      // The random init is what initBertWeights draws (its first parameter, the word embeddings).
      const [first] = initBertWeights(config, 3).values();
      assert.deepEqual(drawn.parameters().subarray(0, first!.data.length), first!.data);
    } finally {
      placeholder.dispose();
      drawn.dispose();
    }
  });
}

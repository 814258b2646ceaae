import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../common/rng.ts';
import { maskTokens, type MaskingOptions } from '../../data/masking.ts';

const special = new Set([0, 100, 101, 102, 103]);
const opts: MaskingOptions = { mlmProbability: 0.15, wholeWord: false, maskId: 103, vocabSize: 30522, specialIds: special };

function sequence(rng: Rng, n: number): { ids: Int32Array; starts: Uint8Array } {
  const ids = new Int32Array(n);
  const starts = new Uint8Array(n);
  ids[0] = 101;
  ids[n - 1] = 102;
  for (let i = 1; i < n - 1; i++) {
    ids[i] = i > n - 8 ? 0 : 1000 + rng.int(20000); // some padding before [SEP] too
    starts[i] = rng.next() < 0.7 ? 1 : 0;
  }
  return { ids, starts };
}

test('80/10/10 within 1% over 10^5 chosen tokens; special tokens and padding never chosen', () => {
  const rng = new Rng(1);
  let chosen = 0;
  let maskCount = 0;
  let randomCount = 0;
  let keptCount = 0;
  let eligible = 0;
  while (chosen < 100_000) {
    const { ids, starts } = sequence(rng, 128);
    const original = ids.slice();
    const labels = new Int32Array(128);
    chosen += maskTokens(ids, starts, labels, opts, rng);
    for (let i = 0; i < 128; i++) {
      if (special.has(original[i]!)) {
        assert.equal(labels[i], -100, 'a special token was chosen');
        assert.equal(ids[i], original[i]);
        continue;
      }
      eligible++;
      if (labels[i] === -100) {
        assert.equal(ids[i], original[i]);
        continue;
      }
      assert.equal(labels[i], original[i]);
      if (ids[i] === 103) maskCount++;
      else if (ids[i] === original[i]) keptCount++;
      else {
        assert.ok(!special.has(ids[i]!), 'random replacement is a special token');
        randomCount++;
      }
    }
  }
  const total = maskCount + randomCount + keptCount;
  assert.ok(Math.abs(maskCount / total - 0.8) < 0.01, `mask ${maskCount / total}`);
  assert.ok(Math.abs(randomCount / total - 0.1) < 0.01, `random ${randomCount / total}`);
  // "kept" includes random draws that hit the original token (1 in ~30k): negligible.
  assert.ok(Math.abs(keptCount / total - 0.1) < 0.01, `kept ${keptCount / total}`);
  assert.ok(Math.abs(total / eligible - 0.15) < 0.005, `chosen fraction ${total / eligible}`);
});

test('whole-word masking chooses every piece of a word together', () => {
  const rng = new Rng(2);
  let words = 0;
  let chosenWords = 0;
  for (let s = 0; s < 300; s++) {
    const { ids, starts } = sequence(rng, 64);
    const original = ids.slice();
    const labels = new Int32Array(64);
    maskTokens(ids, starts, labels, { ...opts, wholeWord: true }, rng);
    for (let i = 1; i < 64; i++) {
      if (special.has(original[i]!)) continue;
      if (starts[i]) {
        words++;
        if (labels[i] !== -100) chosenWords++;
      } else if (!special.has(original[i - 1]!)) {
        assert.equal(labels[i] !== -100, labels[i - 1] !== -100, `piece ${i} split from its word`);
      }
    }
  }
  assert.ok(Math.abs(chosenWords / words - 0.15) < 0.02, `word fraction ${chosenWords / words}`);
});

test('deterministic for a given seed', () => {
  const run = (seed: number) => {
    const { ids, starts } = sequence(new Rng(9), 256);
    const labels = new Int32Array(256);
    maskTokens(ids, starts, labels, opts, new Rng(seed));
    return [Array.from(ids), Array.from(labels)];
  };
  assert.deepEqual(run(5), run(5));
  assert.notDeepEqual(run(5), run(6));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockDataset } from '../../data/blocks.ts';
import type { TokenCache } from '../../data/token-cache.ts';
import { BatchBuilder } from '../../train/batches.ts';

// RoBERTa's dynamic masking (Liu et al. 2019): a fresh selection each time a sequence is
// used. Every family gets it: masks are drawn per (seed, stage, epoch, sample), never cached.
test('masks are drawn afresh each epoch (dynamic masking) and replay exactly for the same epoch', () => {
  const n = 2000;
  const cache = { tokens: Int32Array.from({ length: n }, (_, i) => 10 + (i % 90)), wordStarts: new Uint8Array(n).fill(1), numTokens: n } as unknown as TokenCache;
  const special = { cls: 0, sep: 2, pad: 1, unk: 3, mask: 4 };
  const blocks = new BlockDataset(cache, 64, special);
  const builder = new BatchBuilder(blocks, { mlmProbability: 0.15, wholeWord: false, maskId: 4, vocabSize: 100, specialIds: new Set([0, 1, 2, 3, 4]) }, 7);
  const samples = [0, 5, 9];
  const epoch0 = builder.build(samples, 0, 0);
  const again = builder.build(samples, 0, 0);
  const epoch1 = builder.build(samples, 0, 1);
  assert.deepEqual(again.labels, epoch0.labels, 'same epoch, same masks (resume and 1 ≡ N rely on it)');
  assert.notDeepEqual(epoch1.labels, epoch0.labels, 'the next epoch masks other tokens');
  const masked = (l: Int32Array) => l.filter((x) => x !== -100).length;
  assert.ok(masked(epoch0.labels) > 10 && masked(epoch1.labels) > 10);
});

import { Rng } from '../../common/rng.ts';
import type { MlmBatch } from '../../engine/engine.ts';
import { resolveBertConfig, type BertConfig } from '../../model/bert-config.ts';

/** A BERT small enough for the pure-JS cpu backend, big enough to exercise every path. */
export function tinyConfig(over: Partial<BertConfig> = {}): BertConfig {
  return resolveBertConfig({
    vocab_size: 257,
    hidden_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    intermediate_size: 64,
    max_position_embeddings: 64,
    type_vocab_size: 2,
    hidden_dropout_prob: 0.1,
    attention_probs_dropout_prob: 0.1,
    ...over,
  });
}

/** Random ids, the second half of the last row padded, ~20% of real tokens masked. */
export function randomBatch(c: BertConfig, batchSize: number, seqLen: number, seed: number): MlmBatch {
  const rng = new Rng(seed);
  const n = batchSize * seqLen;
  const inputIds = new Int32Array(n);
  const attentionMask = new Int32Array(n).fill(1);
  const labels = new Int32Array(n).fill(-100);
  const tokenTypeIds = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / seqLen);
    const col = i % seqLen;
    if (row === batchSize - 1 && col >= seqLen / 2) {
      inputIds[i] = c.pad_token_id;
      attentionMask[i] = 0;
      continue;
    }
    inputIds[i] = 1 + rng.int(c.vocab_size - 1);
    tokenTypeIds[i] = col >= seqLen / 2 ? 1 : 0;
    if (rng.next() < 0.2) labels[i] = 1 + rng.int(c.vocab_size - 1);
  }
  return { batchSize, seqLen, inputIds, tokenTypeIds, attentionMask, labels };
}

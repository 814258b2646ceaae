import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveBertConfig } from '../../model/bert-config.ts';
import { trainingFlopsPerToken } from '../../model/model-flops.ts';
import { bertParamSpecs } from '../../model/parameters.ts';

// The estimate's parameter count must be the model's own: every parameter of
// BertForMaskedLM (as bertParamSpecs lays it out) a token's matrix products go
// through, i.e. all but the embeddings and the decoder's vocabulary bias.
test('training FLOPs per token: 6 × the non-embedding parameters of the real layout + 12·L·H·T attention', () => {
  for (const raw of [
    { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64 },
    {}, // bert-base
  ]) {
    const c = resolveBertConfig(raw as never);
    const counted = bertParamSpecs(c, { kind: 'mlm' } as never)
      .filter((s) => !s.name.startsWith('bert.embeddings.') && s.name !== 'cls.predictions.bias')
      .reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
    // An anchor worked out by hand for bert-base: 12 layers × 7,087,872 (attention 4·768²+4·768, FFN
    // 2·768·3072+3072+768, two LayerNorms 4·768) + the MLM transform 768²+768+2·768 = 85,646,592.
    if (c.hidden_size === 768) assert.equal(counted, 85_646_592);
    for (const seqLen of [32, 128]) {
      assert.equal(trainingFlopsPerToken(c, seqLen), 6 * counted + 12 * c.num_hidden_layers * c.hidden_size * seqLen);
    }
  }
});

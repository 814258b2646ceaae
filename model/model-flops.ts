import type { BertConfig } from './bert-config.ts';

/**
 * Training FLOPs per token of a BERT-style encoder, torchtitan's estimate:
 * 6 × the parameters a token goes through outside the embeddings (forward 2,
 * backward 4 per multiply-add) plus 12 × layers × hidden × sequence length for
 * the attention scores and their use. Embedding lookups are not matrix
 * products; the tied MLM decoder runs only at masked positions and is left out
 * as torchtitan leaves out the output embedding. What MFU divides by.
 */
export function trainingFlopsPerToken(c: Pick<BertConfig, 'hidden_size' | 'num_hidden_layers' | 'intermediate_size'>, seqLen: number): number {
  const h = c.hidden_size;
  const layer = 4 * h * h + 4 * h + 2 * h * c.intermediate_size + c.intermediate_size + h + 4 * h;
  const head = h * h + h + 2 * h; // MLM transform (dense + LayerNorm) or pooler
  return 6 * (c.num_hidden_layers * layer + head) + 12 * c.num_hidden_layers * h * seqLen;
}

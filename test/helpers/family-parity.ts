import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine, MlmBatch } from '../../engine/engine.ts';
import { resolveBertConfig, type BertConfig } from '../../model/bert-config.ts';
import { familyOfConfig } from '../../model/families/registry.ts';
import { readSafetensors, writeSafetensors } from '../../model/formats/safetensors.ts';
import { batchToJson, checkLossAndGradients, type ParityTolerance } from './parity.ts';
import { randomBatch } from './tiny-model.ts';
import { relativeError, runReference, scratchDir } from './torch-reference.ts';

/** Tiny configs of each family, small enough for the pure-JS backend, big enough to exercise every path. */
export function tinyFamilyConfig(modelType: string, over: Record<string, unknown> = {}): BertConfig & Record<string, unknown> {
  const common = { vocab_size: 257, max_position_embeddings: 64, initializer_range: 0.05 };
  const byFamily: Record<string, Record<string, unknown>> = {
    bert: { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1 },
    distilbert: { dim: 32, n_layers: 2, n_heads: 4, hidden_dim: 64, pad_token_id: 0 },
    roberta: { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 66, pad_token_id: 1, layer_norm_eps: 1e-5 },
    // 3 layers: global, local, global; window 8 (4 keys each side), so sequences of 24 use the band.
    modernbert: {
      hidden_size: 32, num_hidden_layers: 3, num_attention_heads: 4, intermediate_size: 48, global_attn_every_n_layers: 2, local_attention: 8,
      pad_token_id: 1, bos_token_id: 0, cls_token_id: 0, eos_token_id: 2, sep_token_id: 2, mask_token_id: 256,
    },
  };
  return resolveBertConfig({ model_type: modelType, ...common, ...byFamily[modelType], ...over }, `tiny ${modelType}`);
}

/** randomBatch with the family's conventions: token types only for BERT, padding with the family's pad id. */
export function familyBatch(c: BertConfig, batchSize: number, seqLen: number, seed: number): MlmBatch {
  const b = randomBatch(c, batchSize, seqLen, seed);
  if (!familyOfConfig(c).usesTokenTypes) b.tokenTypeIds = new Int32Array(b.inputIds.length);
  for (let i = 0; i < b.inputIds.length; i++) if (b.attentionMask[i] === 0) b.inputIds[i] = c.pad_token_id;
  return b;
}

/**
 * One batch through `engine` and through the family's PyTorch reference
 * (test/reference/<model_type>_ref.py) with the same weights: logits at real
 * positions, the summed loss and every parameter's gradient. Returns the figures.
 */
export async function checkFamilyParity(
  engine: Engine,
  config: BertConfig & Record<string, unknown>,
  tol: ParityTolerance,
  label: string,
  batch: MlmBatch = familyBatch(config, 3, 24, 5),
): Promise<{ logits: number; grads: number }> {
  const family = familyOfConfig(config);
  const dir = scratchDir(`parity-${family.modelType}`);
  writeSafetensors(join(dir, 'weights.safetensors'), engine.stateDict());
  writeFileSync(join(dir, 'config.json'), JSON.stringify(family.hfConfig(config)));
  writeFileSync(join(dir, 'batch.json'), JSON.stringify(batchToJson(batch)));
  runReference('forward', dir, `${family.modelType}_ref.py`);
  const ref = readSafetensors(join(dir, 'ref.safetensors')).tensors;

  // Compare real positions only (the ModernBERT reference returns 0 at padding, as Hugging Face's unpadded path).
  const V = config.vocab_size;
  const ours = await engine.logits(batch);
  const theirs = ref.get('logits')!.data;
  const keepOurs: number[] = [];
  const keepTheirs: number[] = [];
  for (let i = 0; i < batch.attentionMask.length; i++) {
    if (batch.attentionMask[i] === 0) continue;
    for (let v = 0; v < V; v++) {
      keepOurs.push(ours[i * V + v]!);
      keepTheirs.push(theirs[i * V + v]!);
    }
  }
  const logitErr = relativeError(keepOurs, keepTheirs);
  assert.ok(logitErr < tol.logits, `${label}: logits relative error ${logitErr}`);

  return checkLossAndGradients(engine, config, batch, ref, tol, label, logitErr);
}

import { readJsonNamed } from '../common/read-file.ts';
import { familyOf } from './families/registry.ts';

/**
 * The subset of a Hugging Face `config.json` the model uses, in BERT's names
 * (every family's config is normalised to them; its own names are kept too). Field names
 * stay snake_case so the file round-trips unchanged into runs/<name>/hf/.
 */
export interface BertConfig {
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  /** Only "gelu" (the erf form, as BERT) is supported. */
  hidden_act: string;
  max_position_embeddings: number;
  type_vocab_size: number;
  layer_norm_eps: number;
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  pad_token_id: number;
  initializer_range: number;
  /** The family (model/families/registry.ts): bert, distilbert, roberta, modernbert; absent = bert. */
  model_type?: string;
}

export { BERT_BASE_DEFAULTS } from './families/bert.ts';

/**
 * Fills the family's defaults and checks every field, naming the one at fault.
 * The family comes from `model_type` (bert when absent; an unknown one is an
 * error listing the supported ones); the result carries BERT's field names
 * for every family (model/families/), plus `model_type`.
 */
export function resolveBertConfig(raw: Record<string, unknown>, source = 'config'): BertConfig & Record<string, unknown> {
  const family = familyOf(raw.model_type, source);
  const cfg = family.resolve(raw, source);
  cfg.model_type = family.modelType;
  return cfg;
}

export function readBertConfig(path: string): BertConfig & Record<string, unknown> {
  const raw = readJsonNamed(path, 'model config');
  if (typeof raw !== 'object' || raw === null) throw new Error(`${path}: model config is not a JSON object`);
  return resolveBertConfig(raw as Record<string, unknown>, path);
}

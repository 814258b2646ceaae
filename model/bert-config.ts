import { readJsonNamed } from '../common/read-file.ts';

/**
 * The subset of a Hugging Face BERT `config.json` the model uses. Field names
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
}

/** bert-base-uncased's values; a config.json may override any of them. */
export const BERT_BASE_DEFAULTS: BertConfig = {
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: 'gelu',
  max_position_embeddings: 512,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  pad_token_id: 0,
  initializer_range: 0.02,
};

/** Fills defaults and checks every field, naming the one at fault. */
export function resolveBertConfig(raw: Record<string, unknown>, source = 'config'): BertConfig & Record<string, unknown> {
  const cfg = { ...raw } as Record<string, unknown>;
  for (const [k, v] of Object.entries(BERT_BASE_DEFAULTS)) if (cfg[k] === undefined) cfg[k] = v;
  const positiveInts = [
    'vocab_size',
    'hidden_size',
    'num_hidden_layers',
    'num_attention_heads',
    'intermediate_size',
    'max_position_embeddings',
    'type_vocab_size',
  ];
  for (const k of positiveInts) {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new Error(`${source}: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
    }
  }
  for (const k of ['hidden_dropout_prob', 'attention_probs_dropout_prob']) {
    const v = cfg[k];
    if (typeof v !== 'number' || v < 0 || v >= 1) throw new Error(`${source}: ${k} must be in [0, 1), got ${JSON.stringify(v)}`);
  }
  for (const k of ['layer_norm_eps', 'initializer_range']) {
    const v = cfg[k];
    if (typeof v !== 'number' || !(v > 0)) throw new Error(`${source}: ${k} must be a positive number, got ${JSON.stringify(v)}`);
  }
  if ((cfg.hidden_size as number) % (cfg.num_attention_heads as number) !== 0) {
    throw new Error(
      `${source}: hidden_size ${cfg.hidden_size} is not a multiple of num_attention_heads ${cfg.num_attention_heads}`,
    );
  }
  if (cfg.hidden_act !== 'gelu') {
    throw new Error(`${source}: hidden_act ${JSON.stringify(cfg.hidden_act)} is not supported (only "gelu", BERT's erf GELU)`);
  }
  const pad = cfg.pad_token_id;
  if (typeof pad !== 'number' || !Number.isInteger(pad) || pad < 0 || pad >= (cfg.vocab_size as number)) {
    throw new Error(`${source}: pad_token_id ${JSON.stringify(pad)} is outside the vocabulary`);
  }
  return cfg as BertConfig & Record<string, unknown>;
}

export function readBertConfig(path: string): BertConfig & Record<string, unknown> {
  const raw = readJsonNamed(path, 'model config');
  if (typeof raw !== 'object' || raw === null) throw new Error(`${path}: model config is not a JSON object`);
  return resolveBertConfig(raw as Record<string, unknown>, path);
}

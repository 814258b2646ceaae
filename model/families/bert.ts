import type { BertConfig } from '../bert-config.ts';
import { checkGelu, checkHeads, checkPositive, checkPositiveInts, checkProbabilities, checkTokenId, withDefaults } from './config-checks.ts';
import type { FamilyParam, ModelFamily } from './family.ts';

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

/** The checks of a config in BERT's names (BERT and RoBERTa files; the others after mapping). */
export function checkBertNames(cfg: Record<string, unknown>, source: string): BertConfig & Record<string, unknown> {
  checkPositiveInts(
    cfg,
    ['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'max_position_embeddings', 'type_vocab_size'],
    source,
  );
  checkProbabilities(cfg, ['hidden_dropout_prob', 'attention_probs_dropout_prob'], source);
  checkPositive(cfg, ['layer_norm_eps', 'initializer_range'], source);
  checkHeads(cfg, source);
  checkGelu(cfg, 'hidden_act', source);
  checkTokenId(cfg, 'pad_token_id', source);
  if (cfg.tie_word_embeddings === false) {
    throw new Error(`${source}: tie_word_embeddings false (a decoder untied from the word embeddings) is not supported`);
  }
  return cfg as BertConfig & Record<string, unknown>;
}

/** BertModel's encoder parameters under `prefix` (BERT: "bert.", RoBERTa: "roberta."). */
export function bertEncoderParams(c: BertConfig, prefix: string, positionPadRow?: number): FamilyParam[] {
  const H = c.hidden_size;
  const p = (name: string, shape: number[], init: FamilyParam['init'], extra: Partial<FamilyParam> = {}): FamilyParam => ({
    name: prefix + name,
    shape,
    init,
    decay: init === 'normal',
    ...extra,
  });
  const list: FamilyParam[] = [
    p('embeddings.word_embeddings.weight', [c.vocab_size, H], 'normal', { zeroRows: [c.pad_token_id] }),
    p('embeddings.position_embeddings.weight', [c.max_position_embeddings, H], 'normal', positionPadRow === undefined ? {} : { zeroRows: [positionPadRow] }),
    p('embeddings.token_type_embeddings.weight', [c.type_vocab_size, H], 'normal'),
    p('embeddings.LayerNorm.weight', [H], 'ones'),
    p('embeddings.LayerNorm.bias', [H], 'zeros'),
  ];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const l = `encoder.layer.${i}.`;
    for (const qkv of ['query', 'key', 'value']) {
      list.push(p(`${l}attention.self.${qkv}.weight`, [H, H], 'normal'), p(`${l}attention.self.${qkv}.bias`, [H], 'zeros'));
    }
    list.push(
      p(`${l}attention.output.dense.weight`, [H, H], 'normal'),
      p(`${l}attention.output.dense.bias`, [H], 'zeros'),
      p(`${l}attention.output.LayerNorm.weight`, [H], 'ones'),
      p(`${l}attention.output.LayerNorm.bias`, [H], 'zeros'),
      p(`${l}intermediate.dense.weight`, [c.intermediate_size, H], 'normal'),
      p(`${l}intermediate.dense.bias`, [c.intermediate_size], 'zeros'),
      p(`${l}output.dense.weight`, [H, c.intermediate_size], 'normal'),
      p(`${l}output.dense.bias`, [H], 'zeros'),
      p(`${l}output.LayerNorm.weight`, [H], 'ones'),
      p(`${l}output.LayerNorm.bias`, [H], 'zeros'),
    );
  }
  return list;
}

/** The MLM head's parameters with BERT's layout (output bias first) under the given names. */
export function bertStyleMlmHead(c: BertConfig, names: { bias: string; dense: string; norm: string }): FamilyParam[] {
  const H = c.hidden_size;
  return [
    { name: names.bias, shape: [c.vocab_size], init: 'zeros', decay: false },
    { name: `${names.dense}.weight`, shape: [H, H], init: 'normal', decay: true },
    { name: `${names.dense}.bias`, shape: [H], init: 'zeros', decay: false },
    { name: `${names.norm}.weight`, shape: [H], init: 'ones', decay: false },
    { name: `${names.norm}.bias`, shape: [H], init: 'zeros', decay: false },
  ];
}

export const BERT_FAMILY: ModelFamily = {
  modelType: 'bert',
  mlmArchitecture: 'BertForMaskedLM',
  resolve(raw, source) {
    return checkBertNames(withDefaults(raw, BERT_BASE_DEFAULTS as unknown as Record<string, unknown>), source);
  },
  mlmParams(c) {
    return [
      ...bertEncoderParams(c, 'bert.'),
      ...bertStyleMlmHead(c, { bias: 'cls.predictions.bias', dense: 'cls.predictions.transform.dense', norm: 'cls.predictions.transform.LayerNorm' }),
    ];
  },
  tiedAliases: [
    ['cls.predictions.decoder.weight', 'bert.embeddings.word_embeddings.weight'],
    ['cls.predictions.decoder.bias', 'cls.predictions.bias'],
  ],
  // BertForPreTraining's pooler and NSP head (bert-base-uncased ships them), the position_ids buffer.
  ignorable: (name) =>
    name === 'bert.embeddings.position_ids' || name === 'bert.embeddings.token_type_ids' || /^(bert\.pooler\.|cls\.seq_relationship\.)/.test(name),
  canonicalName(raw) {
    let name = raw.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
    if (/^(embeddings|encoder|pooler)\./.test(name)) name = `bert.${name}`;
    return name;
  },
  hfConfig: (c) => ({ architectures: ['BertForMaskedLM'], model_type: 'bert', ...c }),
  nativeConfig: (c) => ({ ...c }),
  native: { encoder: 'bert', mlmHead: 'mlm' },
  maxSeqLen: (c) => c.max_position_embeddings,
  usesTokenTypes: true,
  specialTokens: { cls: '[CLS]', sep: '[SEP]', pad: '[PAD]', mask: '[MASK]', unk: '[UNK]' },
  tokenIdFields: () => ({}),
  tfjsUnsupported: null,
};

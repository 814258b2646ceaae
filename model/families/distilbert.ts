import type { BertConfig } from '../bert-config.ts';
import { checkBertNames } from './bert.ts';
import { withDefaults, withoutKeys } from './config-checks.ts';
import type { FamilyParam, ModelFamily } from './family.ts';

/** distilbert-base-uncased's values (= Hugging Face's DistilBertConfig defaults). */
const DISTILBERT_DEFAULTS: Record<string, unknown> = {
  vocab_size: 30522,
  dim: 768,
  n_layers: 6,
  n_heads: 12,
  hidden_dim: 3072,
  max_position_embeddings: 512,
  sinusoidal_pos_embds: false,
  activation: 'gelu',
  dropout: 0.1,
  attention_dropout: 0.1,
  initializer_range: 0.02,
  pad_token_id: 0,
  qa_dropout: 0.1,
  seq_classif_dropout: 0.2,
};

/** DistilBERT's names and the BERT names they mean (Hugging Face's attribute_map, plus the ones it lacks). */
const ALIASES: Array<[string, string]> = [
  ['dim', 'hidden_size'],
  ['n_layers', 'num_hidden_layers'],
  ['n_heads', 'num_attention_heads'],
  ['hidden_dim', 'intermediate_size'],
  ['activation', 'hidden_act'],
  ['dropout', 'hidden_dropout_prob'],
  ['attention_dropout', 'attention_probs_dropout_prob'],
];

/** Every DistilBERT LayerNorm uses this eps: it is not a config field. */
const DISTILBERT_LN_EPS = 1e-12;

export const DISTILBERT_FAMILY: ModelFamily = {
  modelType: 'distilbert',
  mlmArchitecture: 'DistilBertForMaskedLM',
  resolve(raw, source) {
    const given = { ...raw };
    // A config written in BERT's names (a job's model.config) means the same fields.
    for (const [own, bert] of ALIASES) if (given[own] === undefined && given[bert] !== undefined) given[own] = given[bert];
    const cfg = withDefaults(given, DISTILBERT_DEFAULTS);
    for (const [own, bert] of ALIASES) cfg[bert] = cfg[own];
    cfg.type_vocab_size = 1;
    cfg.layer_norm_eps = DISTILBERT_LN_EPS;
    if (cfg.sinusoidal_pos_embds) {
      throw new Error(`${source}: sinusoidal_pos_embds true (a frozen sin/cos position table) is not supported; the published DistilBERT checkpoints use learned positions`);
    }
    return checkBertNames(cfg, source);
  },
  mlmParams(c: BertConfig) {
    const H = c.hidden_size;
    const I = c.intermediate_size;
    const p = (name: string, shape: number[], init: FamilyParam['init'], extra: Partial<FamilyParam> = {}): FamilyParam => ({
      name,
      shape,
      init,
      decay: init === 'normal',
      ...extra,
    });
    const list: FamilyParam[] = [
      p('distilbert.embeddings.word_embeddings.weight', [c.vocab_size, H], 'normal', { zeroRows: [c.pad_token_id] }),
      p('distilbert.embeddings.position_embeddings.weight', [c.max_position_embeddings, H], 'normal'),
      p('distilbert.embeddings.LayerNorm.weight', [H], 'ones'),
      p('distilbert.embeddings.LayerNorm.bias', [H], 'zeros'),
    ];
    for (let i = 0; i < c.num_hidden_layers; i++) {
      const l = `distilbert.transformer.layer.${i}.`;
      for (const lin of ['q_lin', 'k_lin', 'v_lin', 'out_lin']) {
        list.push(p(`${l}attention.${lin}.weight`, [H, H], 'normal'), p(`${l}attention.${lin}.bias`, [H], 'zeros'));
      }
      list.push(
        p(`${l}sa_layer_norm.weight`, [H], 'ones'),
        p(`${l}sa_layer_norm.bias`, [H], 'zeros'),
        p(`${l}ffn.lin1.weight`, [I, H], 'normal'),
        p(`${l}ffn.lin1.bias`, [I], 'zeros'),
        p(`${l}ffn.lin2.weight`, [H, I], 'normal'),
        p(`${l}ffn.lin2.bias`, [H], 'zeros'),
        p(`${l}output_layer_norm.weight`, [H], 'ones'),
        p(`${l}output_layer_norm.bias`, [H], 'zeros'),
      );
    }
    list.push(
      p('vocab_transform.weight', [H, H], 'normal'),
      p('vocab_transform.bias', [H], 'zeros'),
      p('vocab_layer_norm.weight', [H], 'ones'),
      p('vocab_layer_norm.bias', [H], 'zeros'),
      p('vocab_projector.bias', [c.vocab_size], 'zeros'),
    );
    return list;
  },
  tiedAliases: [['vocab_projector.weight', 'distilbert.embeddings.word_embeddings.weight']],
  ignorable: (name) => name === 'distilbert.embeddings.position_ids',
  canonicalName: (name) => (/^(embeddings|transformer)\./.test(name) ? `distilbert.${name}` : name),
  hfConfig: (c) => ({
    architectures: ['DistilBertForMaskedLM'],
    model_type: 'distilbert',
    ...withoutKeys(c, [...ALIASES.map(([, bert]) => bert), 'type_vocab_size', 'layer_norm_eps']),
  }),
  nativeConfig: (c) => ({ ...c }),
  native: { encoder: 'distilbert', mlmHead: 'mlm-distilbert' },
  maxSeqLen: (c) => c.max_position_embeddings,
  usesTokenTypes: false,
  specialTokens: { cls: '[CLS]', sep: '[SEP]', pad: '[PAD]', mask: '[MASK]', unk: '[UNK]' },
  tokenIdFields: () => ({}),
  tfjsUnsupported: null,
};

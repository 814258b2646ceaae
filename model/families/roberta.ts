import type { BertConfig } from '../bert-config.ts';
import { bertEncoderParams, bertStyleMlmHead, checkBertNames } from './bert.ts';
import { withDefaults } from './config-checks.ts';
import type { ModelFamily } from './family.ts';

/** roberta-base's config.json values (where they differ from the class defaults, roberta-base's). */
const ROBERTA_BASE: Record<string, unknown> = {
  vocab_size: 50265,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  hidden_act: 'gelu',
  max_position_embeddings: 514,
  type_vocab_size: 1,
  layer_norm_eps: 1e-5,
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  initializer_range: 0.02,
  pad_token_id: 1,
  bos_token_id: 0,
  eos_token_id: 2,
  position_embedding_type: 'absolute',
};

export const ROBERTA_FAMILY: ModelFamily = {
  modelType: 'roberta',
  mlmArchitecture: 'RobertaForMaskedLM',
  resolve(raw, source) {
    const cfg = checkBertNames(withDefaults(raw, ROBERTA_BASE), source);
    if (cfg.position_embedding_type !== 'absolute') {
      throw new Error(`${source}: position_embedding_type ${JSON.stringify(cfg.position_embedding_type)} is not supported (only "absolute")`);
    }
    if (cfg.max_position_embeddings <= cfg.pad_token_id + 1) {
      throw new Error(`${source}: max_position_embeddings ${cfg.max_position_embeddings} leaves no positions after pad_token_id ${cfg.pad_token_id} (RoBERTa numbers tokens from pad_token_id + 1)`);
    }
    return cfg;
  },
  mlmParams(c: BertConfig) {
    return [
      ...bertEncoderParams(c, 'roberta.', c.pad_token_id),
      ...bertStyleMlmHead(c, { bias: 'lm_head.bias', dense: 'lm_head.dense', norm: 'lm_head.layer_norm' }),
    ];
  },
  tiedAliases: [
    ['lm_head.decoder.weight', 'roberta.embeddings.word_embeddings.weight'],
    ['lm_head.decoder.bias', 'lm_head.bias'],
  ],
  // RobertaModel's pooler (a checkpoint of the base model with add_pooling_layer), the buffers.
  ignorable: (name) => name === 'roberta.embeddings.position_ids' || name === 'roberta.embeddings.token_type_ids' || name.startsWith('roberta.pooler.'),
  canonicalName: (name) => (/^(embeddings|encoder|pooler)\./.test(name) ? `roberta.${name}` : name),
  hfConfig: (c) => ({ architectures: ['RobertaForMaskedLM'], model_type: 'roberta', ...c }),
  nativeConfig: (c) => ({ ...c }),
  native: { encoder: 'roberta', mlmHead: 'mlm' },
  // Real tokens take positions pad+1 .. pad+S.
  maxSeqLen: (c) => c.max_position_embeddings - c.pad_token_id - 1,
  usesTokenTypes: false,
  specialTokens: { cls: '<s>', sep: '</s>', pad: '<pad>', mask: '<mask>', unk: '<unk>' },
  tokenIdFields: (s) => ({ bos_token_id: s.cls, eos_token_id: s.sep }),
  tfjsUnsupported: null,
};

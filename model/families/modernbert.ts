import type { BertConfig } from '../bert-config.ts';
import { checkBertNames } from './bert.ts';
import { checkGelu, checkPositive, checkPositiveInts, checkProbabilities, withDefaults, withoutKeys } from './config-checks.ts';
import type { FamilyParam, ModelFamily } from './family.ts';

/** Hugging Face's ModernBertConfig defaults (= ModernBERT-base). */
const MODERNBERT_DEFAULTS: Record<string, unknown> = {
  vocab_size: 50368,
  hidden_size: 768,
  intermediate_size: 1152,
  num_hidden_layers: 22,
  num_attention_heads: 12,
  hidden_activation: 'gelu',
  max_position_embeddings: 8192,
  initializer_range: 0.02,
  initializer_cutoff_factor: 2.0,
  norm_eps: 1e-5,
  norm_bias: false,
  pad_token_id: 50283,
  eos_token_id: 50282,
  bos_token_id: 50281,
  cls_token_id: 50281,
  sep_token_id: 50282,
  mask_token_id: 50284,
  global_rope_theta: 160000.0,
  attention_bias: false,
  attention_dropout: 0.0,
  global_attn_every_n_layers: 3,
  local_attention: 128,
  local_rope_theta: 10000.0,
  embedding_dropout: 0.0,
  mlp_bias: false,
  mlp_dropout: 0.0,
  decoder_bias: true,
  classifier_pooling: 'cls',
  classifier_dropout: 0.0,
  classifier_bias: false,
  classifier_activation: 'gelu',
  sparse_prediction: false,
  sparse_pred_ignore_index: -100,
  tie_word_embeddings: true,
};

/** BERT names filled from ModernBERT's own, for the trainer and engines; not written back. */
const DERIVED = ['type_vocab_size', 'layer_norm_eps', 'hidden_act', 'hidden_dropout_prob', 'attention_probs_dropout_prob'];

/** Which layers use the sliding window: transformers 5's layer_types, else every n-th layer (from 0) is global. */
export function localLayers(c: Record<string, unknown>, source = 'config'): boolean[] {
  const n = c.num_hidden_layers as number;
  const types = c.layer_types;
  if (Array.isArray(types)) {
    if (types.length !== n || types.some((t) => t !== 'full_attention' && t !== 'sliding_attention')) {
      throw new Error(`${source}: layer_types must list ${n} entries, each "full_attention" or "sliding_attention"`);
    }
    return types.map((t) => t === 'sliding_attention');
  }
  const every = c.global_attn_every_n_layers as number;
  return Array.from({ length: n }, (_, i) => i % every !== 0);
}

/** The rotary bases of global and local layers: transformers 5's rope_parameters, else the 4.x fields. */
export function ropeThetas(c: Record<string, unknown>, source = 'config'): { global: number; local: number } {
  const rp = c.rope_parameters as Record<string, { rope_theta?: unknown; rope_type?: unknown }> | undefined;
  if (rp && typeof rp === 'object') {
    const read = (kind: string) => {
      const t = rp[kind]?.rope_theta;
      if (typeof t !== 'number' || !(t > 0)) throw new Error(`${source}: rope_parameters.${kind}.rope_theta is missing`);
      const type = rp[kind]?.rope_type;
      if (type !== undefined && type !== 'default') throw new Error(`${source}: rope_parameters.${kind}.rope_type ${JSON.stringify(type)} is not supported (only "default")`);
      return t;
    };
    return { global: read('full_attention'), local: read('sliding_attention') };
  }
  const g = c.global_rope_theta as number;
  return { global: g, local: (c.local_rope_theta as number | null) ?? g };
}

export const MODERNBERT_FAMILY: ModelFamily = {
  modelType: 'modernbert',
  mlmArchitecture: 'ModernBertForMaskedLM',
  resolve(raw, source) {
    const cfg = withDefaults(raw, MODERNBERT_DEFAULTS);
    if (raw.local_rope_theta === null) cfg.local_rope_theta = null;
    checkPositiveInts(cfg, ['global_attn_every_n_layers', 'local_attention'], source);
    checkPositive(cfg, ['norm_eps', 'initializer_cutoff_factor'], source);
    checkProbabilities(cfg, ['embedding_dropout', 'attention_dropout', 'mlp_dropout'], source);
    checkGelu(cfg, 'hidden_activation', source);
    checkGelu(cfg, 'classifier_activation', source);
    cfg.type_vocab_size = 1;
    cfg.layer_norm_eps = cfg.norm_eps;
    cfg.hidden_act = cfg.hidden_activation;
    cfg.hidden_dropout_prob = Math.max(cfg.embedding_dropout as number, cfg.mlp_dropout as number);
    cfg.attention_probs_dropout_prob = cfg.attention_dropout;
    const checked = checkBertNames(cfg, source);
    if ((checked.hidden_size / checked.num_attention_heads) % 2 !== 0) {
      throw new Error(`${source}: hidden_size / num_attention_heads = ${checked.hidden_size / checked.num_attention_heads} must be even (rotary embeddings rotate pairs)`);
    }
    localLayers(checked, source);
    ropeThetas(checked, source);
    return checked;
  },
  mlmParams(c: BertConfig) {
    const r = c as BertConfig & Record<string, unknown>;
    const H = c.hidden_size;
    const I = c.intermediate_size;
    const std = c.initializer_range;
    const outStd = std / Math.sqrt(2 * c.num_hidden_layers);
    const normBias = r.norm_bias === true;
    const w = (name: string, shape: number[], s: number): FamilyParam => ({ name, shape, init: 'normal', decay: true, std: s, truncated: true });
    const b = (name: string, size: number): FamilyParam => ({ name, shape: [size], init: 'zeros', decay: false });
    const norm = (prefix: string): FamilyParam[] => [
      { name: `${prefix}.weight`, shape: [H], init: 'ones', decay: false },
      ...(normBias ? [b(`${prefix}.bias`, H)] : []),
    ];
    const lin = (prefix: string, shape: number[], s: number, bias: boolean): FamilyParam[] => [w(`${prefix}.weight`, shape, s), ...(bias ? [b(`${prefix}.bias`, shape[0]!)] : [])];
    const list: FamilyParam[] = [w('model.embeddings.tok_embeddings.weight', [c.vocab_size, H], std), ...norm('model.embeddings.norm')];
    for (let i = 0; i < c.num_hidden_layers; i++) {
      const l = `model.layers.${i}.`;
      if (i > 0) list.push(...norm(`${l}attn_norm`));
      list.push(
        ...lin(`${l}attn.Wqkv`, [3 * H, H], std, r.attention_bias === true),
        ...lin(`${l}attn.Wo`, [H, H], outStd, r.attention_bias === true),
        ...norm(`${l}mlp_norm`),
        ...lin(`${l}mlp.Wi`, [2 * I, H], std, r.mlp_bias === true),
        ...lin(`${l}mlp.Wo`, [H, I], outStd, r.mlp_bias === true),
      );
    }
    list.push(...norm('model.final_norm'), ...lin('head.dense', [H, H], outStd, r.classifier_bias === true), ...norm('head.norm'));
    if (r.decoder_bias !== false) list.push(b('decoder.bias', c.vocab_size));
    return list;
  },
  tiedAliases: [['decoder.weight', 'model.embeddings.tok_embeddings.weight']],
  ignorable: () => false,
  canonicalName: (name) => name,
  hfConfig: (c) => ({ architectures: ['ModernBertForMaskedLM'], model_type: 'modernbert', ...withoutKeys(c, DERIVED) }),
  nativeConfig(c) {
    const thetas = ropeThetas(c);
    return {
      ...c,
      _local_layers: localLayers(c).map((l) => (l ? 1 : 0)),
      // The window is inclusive: keys at distance <= local_attention / 2 on each side.
      _window_half: Math.floor((c.local_attention as number) / 2),
      _theta_global: thetas.global,
      _theta_local: thetas.local,
    };
  },
  native: { encoder: 'modernbert', mlmHead: 'mlm-modernbert' },
  maxSeqLen: (c) => c.max_position_embeddings,
  usesTokenTypes: false,
  specialTokens: { cls: '[CLS]', sep: '[SEP]', pad: '[PAD]', mask: '[MASK]', unk: '[UNK]' },
  tokenIdFields: (s) => ({ bos_token_id: s.cls, eos_token_id: s.sep, cls_token_id: s.cls, sep_token_id: s.sep, mask_token_id: s.mask }),
  tfjsUnsupported:
    'the tfjs engine implements BERT, DistilBERT and RoBERTa; ModernBERT (rotary, GeGLU, sliding-window attention over packed sequences) runs on the torch engine: use engine: torch',
};

import type { BertConfig } from '../../model/bert-config.ts';
import { familyOfConfig } from '../../model/families/registry.ts';
import type { EncoderLayout } from './bert.ts';

/** BERT's and RoBERTa's tensors (the same BertModel layout under their prefix). */
function bertShaped(prefix: string, head: EncoderLayout['head'], positionsFromIds: boolean): EncoderLayout {
  return {
    word: `${prefix}.embeddings.word_embeddings.weight`,
    position: `${prefix}.embeddings.position_embeddings.weight`,
    tokenType: `${prefix}.embeddings.token_type_embeddings.weight`,
    embeddingNorm: `${prefix}.embeddings.LayerNorm`,
    layer: (i) => {
      const p = `${prefix}.encoder.layer.${i}`;
      return {
        query: `${p}.attention.self.query`,
        key: `${p}.attention.self.key`,
        value: `${p}.attention.self.value`,
        attnOut: `${p}.attention.output.dense`,
        attnNorm: `${p}.attention.output.LayerNorm`,
        inter: `${p}.intermediate.dense`,
        out: `${p}.output.dense`,
        outNorm: `${p}.output.LayerNorm`,
      };
    },
    positionsFromIds,
    head,
  };
}

const BERT = bertShaped('bert', { dense: 'cls.predictions.transform.dense', norm: 'cls.predictions.transform.LayerNorm', bias: 'cls.predictions.bias' }, false);
const ROBERTA = bertShaped('roberta', { dense: 'lm_head.dense', norm: 'lm_head.layer_norm', bias: 'lm_head.bias' }, true);
const DISTILBERT: EncoderLayout = {
  word: 'distilbert.embeddings.word_embeddings.weight',
  position: 'distilbert.embeddings.position_embeddings.weight',
  tokenType: null,
  embeddingNorm: 'distilbert.embeddings.LayerNorm',
  layer: (i) => {
    const p = `distilbert.transformer.layer.${i}`;
    return {
      query: `${p}.attention.q_lin`,
      key: `${p}.attention.k_lin`,
      value: `${p}.attention.v_lin`,
      attnOut: `${p}.attention.out_lin`,
      attnNorm: `${p}.sa_layer_norm`,
      inter: `${p}.ffn.lin1`,
      out: `${p}.ffn.lin2`,
      outNorm: `${p}.output_layer_norm`,
    };
  },
  positionsFromIds: false,
  head: { dense: 'vocab_transform', norm: 'vocab_layer_norm', bias: 'vocab_projector.bias' },
};

const LAYOUTS: Record<string, EncoderLayout> = { bert: BERT, roberta: ROBERTA, distilbert: DISTILBERT };

/** The tfjs engine's layout for the config's family; families it does not implement say why. */
export function tfjsLayout(c: BertConfig): EncoderLayout {
  const family = familyOfConfig(c);
  const layout = LAYOUTS[family.modelType];
  if (!layout) throw new Error(`engine tfjs: model_type ${family.modelType}: ${family.tfjsUnsupported ?? 'not implemented'}`);
  return layout;
}

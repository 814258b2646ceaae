import type { BertConfig } from './bert-config.ts';
import type { StateDict } from './state-dict.ts';
import { allFamilies, familyOf, familyOfConfig } from './families/registry.ts';

/**
 * What sits on the encoder: BertForMaskedLM's prediction head (decoder tied
 * to the word embeddings), or BertForSequenceClassification's pooler (dense
 * + tanh on [CLS]) and classifier. The head decides the parameter list after
 * the encoder's, the names a checkpoint may carry besides them, and the
 * Hugging Face architecture of exported folders.
 */
export type ModelHead =
  | { kind: 'mlm' }
  /** classifierDropout: before the classifier, in training; absent = the config's hidden_dropout_prob (as Hugging Face). */
  | { kind: 'classification'; numLabels: number; classifierDropout?: number };

export const MLM_HEAD: ModelHead = { kind: 'mlm' };

type Init = 'normal' | 'zeros' | 'ones';

/** The classification head's parameters, in Hugging Face's state_dict() order after BERT's encoder. */
export function headParams(c: BertConfig, head: ModelHead): Array<[string, number[], Init]> {
  const H = c.hidden_size;
  if (head.kind !== 'classification') throw new Error('headParams: the MLM head is the family\'s (model/families/)');
  return [
    ['bert.pooler.dense.weight', [H, H], 'normal'],
    ['bert.pooler.dense.bias', [H], 'zeros'],
    ['classifier.weight', [head.numLabels, H], 'normal'],
    ['classifier.bias', [head.numLabels], 'zeros'],
  ];
}

/**
 * Names a checkpoint may carry that this model deliberately does not use:
 * for an MLM model the family's buffers, poolers and pre-training heads, and
 * the tied decoder aliases; for the classifier every `cls.` head (an MLM or
 * pre-training checkpoint's encoder is what a classifier starts from).
 */
export function ignorableName(name: string, head: ModelHead, c?: BertConfig): boolean {
  const family = c ? familyOfConfig(c) : familyOf('bert');
  if (head.kind === 'classification') return name.startsWith('cls.') || family.ignorable(name);
  return family.ignorable(name) || family.tiedAliases.some(([alias]) => alias === name);
}

/** The head a state dict was saved with: a classifier's has classifier.weight [numLabels, H]. */
export function headOfStateDict(sd: StateDict): ModelHead {
  const w = sd.get('classifier.weight');
  return w ? { kind: 'classification', numLabels: w.shape[0]! } : MLM_HEAD;
}

/** The aliases torch's <Family>ForMaskedLM.state_dict() lists for its tied decoder, for .pth files. */
export function withTiedCopies(sd: StateDict, head: ModelHead): StateDict {
  if (head.kind !== 'mlm') return sd;
  const out: StateDict = new Map(sd);
  for (const family of allFamilies()) {
    for (const [alias, target] of family.tiedAliases) {
      const t = sd.get(target);
      if (t && !out.has(alias)) out.set(alias, t);
    }
  }
  return out;
}

/** Hugging Face config.json fields of a classifier over `labels` (in id order). */
export function classifierConfigFields(labels: string[], classifierDropout: number | null): Record<string, unknown> {
  return {
    architectures: ['BertForSequenceClassification'],
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    problem_type: 'single_label_classification',
    classifier_dropout: classifierDropout,
  };
}

/** The label names of a classifier's config.json (id2label), or null for another model. */
export function labelsOfConfig(config: Record<string, unknown>): string[] | null {
  const m = config.id2label as Record<string, string> | undefined;
  if (!m || typeof m !== 'object') return null;
  return Object.keys(m)
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => m[k]!);
}

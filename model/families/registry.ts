import { BERT_FAMILY } from './bert.ts';
import { DISTILBERT_FAMILY } from './distilbert.ts';
import type { ModelFamily } from './family.ts';
import { MODERNBERT_FAMILY } from './modernbert.ts';
import { ROBERTA_FAMILY } from './roberta.ts';

/** The families by config.json `model_type`. */
const FAMILIES = new Map<string, ModelFamily>([BERT_FAMILY, DISTILBERT_FAMILY, ROBERTA_FAMILY, MODERNBERT_FAMILY].map((f) => [f.modelType, f]));

export const SUPPORTED_MODEL_TYPES: string[] = [...FAMILIES.keys()];

/** The family a config.json's `model_type` names (absent: bert, as files written before families). */
export function familyOf(modelType: unknown, source = 'config'): ModelFamily {
  if (modelType === undefined || modelType === null) return BERT_FAMILY;
  const f = typeof modelType === 'string' ? FAMILIES.get(modelType) : undefined;
  if (!f) {
    throw new Error(`${source}: model_type ${JSON.stringify(modelType)} is not supported (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
  }
  return f;
}

/** The family of a resolved config. */
export function familyOfConfig(c: { model_type?: unknown }): ModelFamily {
  return familyOf(c.model_type);
}

/** Every family's tied aliases, for files whose family is known only by their names. */
export function allFamilies(): ModelFamily[] {
  return [...FAMILIES.values()];
}

import type { Tokenizer } from '../data/tokenizer/tokenizer.ts';
import { createEngine } from '../engine/create-engine.ts';
import { loadInferenceModel } from './inference-model.ts';
import { familyOfConfig } from '../model/families/registry.ts';

export interface FillMaskPrediction {
  /** Which [MASK] of the text, 0-based. */
  mask: number;
  token: string;
  tokenId: number;
  score: number;
  sequence: string;
}

/**
 * What Hugging Face's fill-mask pipeline shows: for each mask token ([MASK], or
 * the tokenizer's own, e.g. RoBERTa's <mask>) in the text,
 * the top-k tokens with their probabilities. `source` is a run folder
 * (checkpoint best or last) or a Hugging Face model folder.
 */
export async function fillMask(
  source: string,
  text: string,
  o: { topK: number; checkpoint: 'best' | 'last'; engine?: string },
): Promise<FillMaskPrediction[]> {
  const { config, weights, tokenizer, head } = loadInferenceModel(source, o.checkpoint);
  if (head.kind !== 'mlm') throw new Error(`${source}: a sequence classifier has no masked-LM head; use \`gradpool classify\``);
  const { ids, maskPositions } = encodeWithMasks(tokenizer, text);
  if (maskPositions.length === 0) throw new Error(`no [MASK] in ${JSON.stringify(text)}`);
  const maxLen = familyOfConfig(config).maxSeqLen(config);
  if (ids.length > maxLen) throw new Error(`text is ${ids.length} tokens; the model takes ${maxLen}`);
  const engine = await createEngine(o.engine ?? 'auto', { config, weights, weightsSource: source, seed: 0 });
  try {
    const n = ids.length;
    const batch = {
      batchSize: 1,
      seqLen: n,
      inputIds: Int32Array.from(ids),
      tokenTypeIds: new Int32Array(n),
      attentionMask: new Int32Array(n).fill(1),
      labels: new Int32Array(n).fill(-100),
    };
    const top = await engine.topK(batch, maskPositions, o.topK);
    const out: FillMaskPrediction[] = [];
    maskPositions.forEach((pos, m) => {
      for (let j = 0; j < o.topK; j++) {
        const id = top.ids[m * o.topK + j]!;
        const filled = ids.slice(1, -1);
        filled[pos - 1] = id;
        const token = tokenizer.decode ? tokenizer.decode([id]) : tokenizer.idToToken(id);
        out.push({ mask: m, token, tokenId: id, score: top.probs[m * o.topK + j]!, sequence: decode(tokenizer, filled) });
      }
    });
    return out;
  } finally {
    engine.dispose();
  }
}

/**
 * [CLS] text [SEP] (RoBERTa: <s> text </s>) with the mask token kept whole (as an added
 * token is in Hugging Face): the tokenizer's own (<mask> for RoBERTa) or "[MASK]".
 * Where the mask token takes the space before it (RoBERTa's lstrip), that space goes with it.
 */
export function encodeWithMasks(tok: Tokenizer, text: string): { ids: number[]; maskPositions: number[] } {
  const ids = [tok.special.cls];
  const maskPositions: number[] = [];
  const own = tok.idToToken(tok.special.mask);
  const parts = text.split(own === '[MASK]' ? '[MASK]' : new RegExp(`${escapeRegExp(own)}|\\[MASK\\]`));
  parts.forEach((part, i) => {
    if (i > 0) {
      maskPositions.push(ids.length);
      ids.push(tok.special.mask);
    }
    const body = tok.maskTakesSpaceBefore && i < parts.length - 1 ? part.trimEnd() : part;
    if (body) ids.push(...tok.encode(body).ids);
  });
  ids.push(tok.special.sep);
  return { ids, maskPositions };
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function decode(tok: Tokenizer, ids: number[]): string {
  if (tok.decode) return tok.decode(ids);
  let s = '';
  for (const id of ids) {
    const t = tok.idToToken(id);
    s += t.startsWith('##') ? t.slice(2) : `${s ? ' ' : ''}${t}`;
  }
  return s;
}

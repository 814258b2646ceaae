import type { Tokenizer } from '../data/tokenizer/tokenizer.ts';
import { createEngine } from '../engine/create-engine.ts';
import { loadInferenceModel } from './inference-model.ts';

export interface FillMaskPrediction {
  /** Which [MASK] of the text, 0-based. */
  mask: number;
  token: string;
  tokenId: number;
  score: number;
  sequence: string;
}

/**
 * What Hugging Face's fill-mask pipeline shows: for each [MASK] in the text,
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
  if (ids.length > config.max_position_embeddings) throw new Error(`text is ${ids.length} tokens; the model takes ${config.max_position_embeddings}`);
  const engine = await createEngine(o.engine ?? 'auto', { config, weights, weightsSource: source, seed: 0 });
  try {
    const n = ids.length;
    const batch = {
      batchSize: 1,
      seqLen: n,
      inputIds: Int32Array.from(ids),
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
        out.push({ mask: m, token: tokenizer.idToToken(id), tokenId: id, score: top.probs[m * o.topK + j]!, sequence: decode(tokenizer, filled) });
      }
    });
    return out;
  } finally {
    engine.dispose();
  }
}

/** [CLS] text [SEP] with the literal "[MASK]" kept whole (as an added token is in Hugging Face). */
function encodeWithMasks(tok: Tokenizer, text: string): { ids: number[]; maskPositions: number[] } {
  const ids = [tok.special.cls];
  const maskPositions: number[] = [];
  text.split('[MASK]').forEach((part, i) => {
    if (i > 0) {
      maskPositions.push(ids.length);
      ids.push(tok.special.mask);
    }
    ids.push(...tok.encode(part).ids);
  });
  ids.push(tok.special.sep);
  return { ids, maskPositions };
}

function decode(tok: Tokenizer, ids: number[]): string {
  let s = '';
  for (const id of ids) {
    const t = tok.idToToken(id);
    s += t.startsWith('##') ? t.slice(2) : `${s ? ' ' : ''}${t}`;
  }
  return s;
}

import type { Rng } from '../common/rng.ts';

/**
 * The MLM collator (Hugging Face's DataCollatorForLanguageModeling, and its
 * whole-word variant): each maskable token is chosen with `mlmProbability`;
 * of the chosen, 80% become [MASK], 10% a random token, 10% stay. Labels hold
 * the original token at chosen positions and -100 elsewhere. Special tokens
 * and padding are never chosen. One deviation: random replacements are drawn
 * from the non-special vocabulary (HF draws from all of it, [PAD] included).
 */
export interface MaskingOptions {
  /** Default 0.15. */
  mlmProbability: number;
  /** Choose whole words (all their WordPiece tokens together); default false. */
  wholeWord: boolean;
  maskId: number;
  vocabSize: number;
  /** Ids never chosen nor used as random replacements ([CLS], [SEP], [PAD], [UNK]?, [MASK]). */
  specialIds: ReadonlySet<number>;
}

/**
 * Masks one sequence in place: `ids` becomes the model input, `labels` is
 * filled. `wordStarts` marks the first token of each word. Returns the count
 * of chosen tokens.
 */
export function maskTokens(
  ids: Int32Array,
  wordStarts: Uint8Array,
  labels: Int32Array,
  o: MaskingOptions,
  rng: Rng,
): number {
  labels.fill(-100);
  let chosen = 0;
  let wordChosen = false;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (o.specialIds.has(id)) {
      wordChosen = false;
      continue;
    }
    let pick: boolean;
    if (o.wholeWord) {
      if (wordStarts[i]) wordChosen = rng.next() < o.mlmProbability;
      pick = wordChosen;
    } else {
      pick = rng.next() < o.mlmProbability;
    }
    if (!pick) continue;
    chosen++;
    labels[i] = id;
    const r = rng.next();
    if (r < 0.8) ids[i] = o.maskId;
    else if (r < 0.9) ids[i] = randomNonSpecial(o, rng);
  }
  return chosen;
}

function randomNonSpecial(o: MaskingOptions, rng: Rng): number {
  for (;;) {
    const t = rng.int(o.vocabSize);
    if (!o.specialIds.has(t)) return t;
  }
}

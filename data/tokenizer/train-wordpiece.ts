import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.ts';
import { Progress } from '../../common/progress.ts';
import { readCorpus, type CorpusReadOptions } from '../corpus-readers.ts';
import { basicTokenize } from './bert-basic.ts';

/**
 * Builds a WordPiece vocabulary from a corpus, the way Hugging Face's
 * WordPieceTrainer does (a BPE over BERT-basic-tokenized words, with "##"
 * marking word-internal pieces): start from the characters, repeatedly merge
 * the most frequent adjacent pair, until `vocabSize` tokens. Special tokens
 * come first: [PAD] [UNK] [CLS] [SEP] [MASK].
 */
export interface BuildVocabOptions {
  files: string[];
  vocabSize: number;
  out: string;
  read?: CorpusReadOptions;
  lowerCase?: boolean;
  /** Characters seen fewer times are left out of the alphabet (become [UNK]); default 2. */
  minCharFrequency?: number;
}

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
/** Unique words kept while counting; beyond it the rarest are pruned (bounded memory). */
const MAX_WORDS = 2_000_000;

export async function buildWordPieceVocab(o: BuildVocabOptions): Promise<string[]> {
  const counts = new Map<string, number>();
  for (const file of o.files) {
    let bytes = 0;
    const bar = new Progress({ label: `count words ${file}`, total: 0, unit: 'bytes' });
    for await (const row of readCorpus(file, o.read, (n) => (bytes += n))) {
      if ('bad' in row) continue;
      for (const w of basicTokenize(row.text, o.lowerCase ?? true)) counts.set(w, (counts.get(w) ?? 0) + 1);
      if (counts.size > MAX_WORDS) for (const [w, c] of counts) if (c === 1) counts.delete(w);
      bar.update(bytes);
    }
    bar.finish();
  }
  const vocab = trainWordPiece(counts, o.vocabSize, o.minCharFrequency ?? 2);
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileAtomic(o.out, Buffer.from(`${vocab.join('\n')}\n`));
  return vocab;
}

/** The merge loop on word counts; exported for tests. */
export function trainWordPiece(counts: Map<string, number>, vocabSize: number, minCharFrequency = 1): string[] {
  const charFreq = new Map<string, number>();
  for (const [w, c] of counts) for (const ch of w) charFreq.set(ch, (charFreq.get(ch) ?? 0) + c);
  const alphabet = [...charFreq].filter(([, c]) => c >= minCharFrequency).map(([ch]) => ch).sort();
  const known = new Set(alphabet);
  const vocab: string[] = [...SPECIAL_TOKENS];
  const inVocab = new Set(vocab);
  const add = (t: string) => {
    if (!inVocab.has(t)) {
      inVocab.add(t);
      vocab.push(t);
    }
  };
  for (const ch of alphabet) add(ch);
  for (const ch of alphabet) add(`##${ch}`);

  // Words as symbol sequences; words with a character outside the alphabet cannot be built and are skipped.
  const words: Array<{ s: string[]; c: number }> = [];
  for (const [w, c] of counts) {
    const chars = Array.from(w);
    if (chars.every((ch) => known.has(ch))) words.push({ s: chars.map((ch, i) => (i ? `##${ch}` : ch)), c });
  }
  const SEP = '\u0001';
  const pairCount = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const addPairs = (wi: number, sign: 1 | -1) => {
    const { s, c } = words[wi]!;
    for (let i = 0; i + 1 < s.length; i++) {
      const k = s[i] + SEP + s[i + 1];
      const n = (pairCount.get(k) ?? 0) + sign * c;
      if (n <= 0) pairCount.delete(k);
      else pairCount.set(k, n);
      if (sign > 0) {
        let set = pairWords.get(k);
        if (!set) pairWords.set(k, (set = new Set()));
        set.add(wi);
      }
    }
  };
  words.forEach((_, i) => addPairs(i, 1));

  while (vocab.length < vocabSize && pairCount.size > 0) {
    let best = '';
    let bestN = 0;
    for (const [k, n] of pairCount) if (n > bestN || (n === bestN && k < best)) [best, bestN] = [k, n];
    const [a, b] = best.split(SEP) as [string, string];
    const merged = a + b.slice(2);
    add(merged);
    for (const wi of pairWords.get(best) ?? []) {
      const w = words[wi]!;
      addPairs(wi, -1);
      const next: string[] = [];
      for (let i = 0; i < w.s.length; i++) {
        if (i + 1 < w.s.length && w.s[i] === a && w.s[i + 1] === b) {
          next.push(merged);
          i++;
        } else next.push(w.s[i]!);
      }
      w.s = next;
      addPairs(wi, 1);
    }
    pairWords.delete(best);
    pairCount.delete(best);
  }
  return vocab;
}

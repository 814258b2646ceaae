import { readFileNamed } from '../../common/read-file.ts';
import { cleanText, splitChunk } from './bert-basic.ts';
import { fingerprintOf, specialIdsFrom, type Encoded, type SpecialIds, type Tokenizer } from './tokenizer.ts';

/** BERT's max_input_chars_per_word: longer words become [UNK]. */
const MAX_WORD_CHARS = 100;
/** Chunks whose pieces are remembered (bounded memory). */
const CACHE_LIMIT = 200_000;

/** BERT basic tokenization + greedy longest-match-first WordPiece over a vocab.txt. */
export class WordPieceTokenizer implements Tokenizer {
  readonly kind = 'wordpiece' as const;
  readonly vocabSize: number;
  readonly special: SpecialIds;
  readonly fingerprint: string;
  private readonly vocab = new Map<string, number>();
  private readonly tokens: string[];
  private readonly cache = new Map<string, Encoded>();

  constructor(vocabLines: string[], private readonly lowerCase: boolean, source = 'vocab.txt') {
    this.tokens = vocabLines;
    vocabLines.forEach((tok, i) => {
      if (!this.vocab.has(tok)) this.vocab.set(tok, i);
    });
    this.vocabSize = vocabLines.length;
    this.special = specialIdsFrom((t) => this.vocab.get(t), source);
    this.fingerprint = fingerprintOf('wordpiece', String(lowerCase), vocabLines.join('\n'));
  }

  static fromVocabFile(path: string, lowerCase: boolean): WordPieceTokenizer {
    const text = readFileNamed(path, 'tokenizer vocabulary').toString('utf8');
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return new WordPieceTokenizer(lines.map((l) => l.replace(/\r$/, '')), lowerCase, path);
  }

  encode(text: string): Encoded {
    const ids: number[] = [];
    const wordStarts: number[] = [];
    for (const chunk of cleanText(text).split(' ')) {
      if (!chunk) continue;
      const enc = this.chunkPieces(chunk);
      for (let i = 0; i < enc.ids.length; i++) {
        ids.push(enc.ids[i]!);
        wordStarts.push(enc.wordStarts[i]!);
      }
    }
    return { ids, wordStarts };
  }

  /** Pieces of one whitespace-separated chunk, cached: corpora repeat their chunks, so this carries the speed. */
  private chunkPieces(chunk: string): Encoded {
    const hit = this.cache.get(chunk);
    if (hit) return hit;
    const ids: number[] = [];
    const wordStarts: number[] = [];
    for (const word of splitChunk(chunk, this.lowerCase)) {
      const pieces = this.greedy(word);
      for (let i = 0; i < pieces.length; i++) {
        ids.push(pieces[i]!);
        wordStarts.push(i === 0 ? 1 : 0);
      }
    }
    const enc = { ids, wordStarts };
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(chunk, enc);
    return enc;
  }

  private greedy(word: string): number[] {
    const chars = Array.from(word);
    if (chars.length > MAX_WORD_CHARS) return [this.special.unk];
    const out: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found: number | undefined;
      while (start < end) {
        const sub = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
        found = this.vocab.get(sub);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) return [this.special.unk];
      out.push(found);
      start = end;
    }
    return out;
  }

  idToToken(id: number): string {
    return this.tokens[id] ?? '[UNK]';
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }
}

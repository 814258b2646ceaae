import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readJsonNamed } from '../../common/read-file.ts';
import { join } from 'node:path';

/**
 * What the data pipeline needs from a tokenizer: ids, word boundaries (for
 * whole-word masking) and BERT's special tokens. Two implementations: the
 * Hugging Face tokenizer.json through @huggingface/tokenizers, and BERT's
 * own basic + WordPiece procedure for a folder with only vocab.txt.
 */
export interface Encoded {
  ids: number[];
  /** 1 where a token begins a word, 0 for "##" continuations. */
  wordStarts: number[];
}

export interface SpecialIds {
  pad: number;
  unk: number;
  cls: number;
  sep: number;
  mask: number;
}

export interface Tokenizer {
  readonly kind: 'wordpiece' | 'tokenizer.json';
  readonly vocabSize: number;
  readonly special: SpecialIds;
  /** Hash of everything that changes the ids: keys the token cache. */
  readonly fingerprint: string;
  /** Without [CLS]/[SEP]: the chunker adds them per block. */
  encode(text: string): Encoded;
  idToToken(id: number): string;
  tokenToId(token: string): number | undefined;
  /** Text of ids, special tokens left out (byte-level BPE: exact); absent = join the WordPiece tokens. */
  decode?(ids: number[]): string;
  /** Byte-level BPE: the space before the mask token belongs to it (RoBERTa's <mask> has lstrip). */
  readonly maskTakesSpaceBefore?: boolean;
}

export function specialIdsFrom(lookup: (t: string) => number | undefined, source: string): SpecialIds {
  const get = (t: string) => {
    const id = lookup(t);
    if (id === undefined) throw new Error(`${source}: the vocabulary has no ${t} token`);
    return id;
  };
  return { pad: get('[PAD]'), unk: get('[UNK]'), cls: get('[CLS]'), sep: get('[SEP]'), mask: get('[MASK]') };
}

export function fingerprintOf(...parts: Array<string | Buffer>): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 32);
}

/** `do_lower_case` from tokenizer_config.json beside the vocabulary (default true, as bert-*-uncased). */
export function readDoLowerCase(dir: string): boolean {
  const p = join(dir, 'tokenizer_config.json');
  if (!existsSync(p)) return true;
  const cfg = readJsonNamed<{ do_lower_case?: boolean }>(p, 'tokenizer config');
  return cfg.do_lower_case ?? true;
}

export function isDirectory(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

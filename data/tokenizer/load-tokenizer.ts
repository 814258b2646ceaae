import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { tokenizerJsonFromVocabAndMerges } from './byte-level-bpe-files.ts';
import { HfJsonTokenizer } from './hf-json-tokenizer.ts';
import { isDirectory, readDoLowerCase, type Tokenizer } from './tokenizer.ts';
import { WordPieceTokenizer } from './wordpiece.ts';

/**
 * Resolves a tokenizer from a folder (tokenizer.json preferred, else
 * vocab.txt, else a byte-level BPE's vocab.json + merges.txt) or from a file
 * path to tokenizer.json or vocab.txt.
 */
export function loadTokenizer(path: string): Tokenizer {
  if (!existsSync(path)) throw new Error(`tokenizer: ${path} does not exist`);
  if (isDirectory(path)) {
    if (existsSync(join(path, 'tokenizer.json'))) return new HfJsonTokenizer(join(path, 'tokenizer.json'));
    if (existsSync(join(path, 'vocab.txt'))) {
      return WordPieceTokenizer.fromVocabFile(join(path, 'vocab.txt'), readDoLowerCase(path));
    }
    if (existsSync(join(path, 'vocab.json')) && existsSync(join(path, 'merges.txt'))) {
      return new HfJsonTokenizer(join(path, 'vocab.json'), { json: tokenizerJsonFromVocabAndMerges(path) });
    }
    throw new Error(`tokenizer: ${path} has neither tokenizer.json, vocab.txt nor vocab.json + merges.txt`);
  }
  if (basename(path).endsWith('.json')) return new HfJsonTokenizer(path);
  return WordPieceTokenizer.fromVocabFile(path, readDoLowerCase(dirname(path)));
}

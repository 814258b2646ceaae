import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HfJsonTokenizer } from './hf-json-tokenizer.ts';
import { isDirectory, readDoLowerCase, type Tokenizer } from './tokenizer.ts';
import { WordPieceTokenizer } from './wordpiece.ts';

/**
 * Resolves a tokenizer from a folder (tokenizer.json preferred, else
 * vocab.txt) or from a file path to either.
 */
export function loadTokenizer(path: string): Tokenizer {
  if (!existsSync(path)) throw new Error(`tokenizer: ${path} does not exist`);
  if (isDirectory(path)) {
    if (existsSync(join(path, 'tokenizer.json'))) return new HfJsonTokenizer(join(path, 'tokenizer.json'));
    if (existsSync(join(path, 'vocab.txt'))) {
      return WordPieceTokenizer.fromVocabFile(join(path, 'vocab.txt'), readDoLowerCase(path));
    }
    throw new Error(`tokenizer: ${path} has neither tokenizer.json nor vocab.txt`);
  }
  if (basename(path).endsWith('.json')) return new HfJsonTokenizer(path);
  return WordPieceTokenizer.fromVocabFile(path, readDoLowerCase(dirname(path)));
}

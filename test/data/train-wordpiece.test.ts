import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildWordPieceVocab, trainWordPiece } from '../../data/tokenizer/train-wordpiece.ts';
import { WordPieceTokenizer } from '../../data/tokenizer/wordpiece.ts';
import { scratchDir } from '../helpers/torch-reference.ts';

test('merges follow pair frequency; specials, characters and ## pieces come first', () => {
  const vocab = trainWordPiece(new Map([['low', 5], ['lower', 2], ['newest', 6], ['widest', 3]]), 40);
  assert.deepEqual(vocab.slice(0, 5), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
  assert.ok(vocab.includes('l') && vocab.includes('##o'));
  // "##e ##s" and "##s ##t" occur 9 times each (newest 6 + widest 3); ties break by name.
  const firstMerge = vocab.findIndex((t, i) => i >= 5 && t.replace(/^##/, '').length > 1);
  assert.equal(vocab[firstMerge], '##es');
  assert.ok(vocab.includes('low') && vocab.includes('##est'));
});

test('a vocabulary built from a real corpus tokenizes it with few unknowns', async () => {
  const dir = scratchDir('vocab');
  const out = join(dir, 'vocab.txt');
  const corpus = new URL('../../examples/corpus/grimm/valid.txt', import.meta.url).pathname;
  const vocab = await buildWordPieceVocab({ files: [corpus], vocabSize: 2000, out });
  assert.equal(vocab.length, 2000);
  const tok = WordPieceTokenizer.fromVocabFile(out, true);
  assert.equal(tok.vocabSize, 2000);
  const enc = tok.encode('The king and the queen went into the forest.');
  assert.ok(!enc.ids.includes(tok.special.unk), `unknowns in ${enc.ids}`);
  assert.ok(enc.ids.length <= 12, `common words should be whole tokens: ${enc.ids.length}`);
  writeFileSync(join(dir, 'x.txt'), 'ok');
});

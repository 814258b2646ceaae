import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { HfJsonTokenizer } from '../../data/tokenizer/hf-json-tokenizer.ts';
import { loadTokenizer } from '../../data/tokenizer/load-tokenizer.ts';
import { WordPieceTokenizer } from '../../data/tokenizer/wordpiece.ts';

const BERT = new URL('../fixtures/bert-base-uncased/', import.meta.url).pathname;

// Expected ids read by hand off bert-base-uncased's vocab.txt (id = line − 1),
// following BERT's procedure: lower-case, strip accents, split punctuation,
// CJK per character, greedy longest-match WordPiece.
const CASES: Array<[string, number[], number[]]> = [
  ['Hello, world!', [7592, 1010, 2088, 999], [1, 1, 1, 1]],
  ["The King's son.", [1996, 2332, 1005, 1055, 2365, 1012], [1, 1, 1, 1, 1, 1]],
  ['Café naïve', [7668, 15743], [1, 1]],
  ['東京', [1879, 1755], [1, 1]],
  // una + ##ffa + ##ble: "una" is the longest vocabulary prefix, then "##ffa", then "##ble".
  ['unaffable', [14477, 20961, 3468], [1, 0, 0]],
  ['$3', [1002, 1017], [1, 1]],
  ['\u0000snow\twhite', [4586, 2317], [1, 1]],
  ['x'.repeat(101), [100], [1]],
];

const tokenizers = [
  ['vocab.txt (BERT WordPiece)', WordPieceTokenizer.fromVocabFile(join(BERT, 'vocab.txt'), true)],
  ['tokenizer.json (@huggingface/tokenizers)', new HfJsonTokenizer(join(BERT, 'tokenizer.json'), { useLibrary: true })],
  ['tokenizer.json (plain BERT: fast path)', new HfJsonTokenizer(join(BERT, 'tokenizer.json'))],
] as const;

for (const [name, tok] of tokenizers) {
  test(`${name}: known sentences give the ids BERT's procedure gives`, () => {
    assert.deepEqual(tok.special, { pad: 0, unk: 100, cls: 101, sep: 102, mask: 103 });
    assert.equal(tok.vocabSize, 30522);
    for (const [text, ids, starts] of CASES) {
      const enc = tok.encode(text);
      assert.deepEqual(enc.ids, ids, `ids of ${JSON.stringify(text.slice(0, 20))}`);
      assert.deepEqual(enc.wordStarts, starts, `word starts of ${JSON.stringify(text.slice(0, 20))}`);
    }
  });
}

test('our BERT procedure and @huggingface/tokenizers agree on every line of two real corpora', () => {
  // This agreement is what lets plain-BERT tokenizer.json files take the fast path.
  const [ours, library, fast] = [tokenizers[0][1], tokenizers[1][1], tokenizers[2][1]];
  let tokens = 0;
  for (const corpus of ['grimm/valid.txt', 'japanese-fairy-tales/valid.txt']) {
    const lines = readFileSync(new URL(`../../examples/corpus/${corpus}`, import.meta.url), 'utf8').split('\n');
    for (const line of lines) {
      const x = library.encode(line);
      assert.deepEqual(ours.encode(line), x, `line ${JSON.stringify(line.slice(0, 60))}`);
      assert.deepEqual(fast.encode(line), x);
      tokens += x.ids.length;
    }
  }
  assert.ok(tokens > 20_000);
});

test('loadTokenizer prefers tokenizer.json and names a folder without either file', () => {
  assert.equal(loadTokenizer(BERT).kind, 'tokenizer.json');
  assert.equal(loadTokenizer(join(BERT, 'vocab.txt')).kind, 'wordpiece');
  assert.throws(() => loadTokenizer(new URL('.', import.meta.url).pathname), /neither tokenizer.json, vocab.txt nor vocab.json \+ merges.txt/);
});

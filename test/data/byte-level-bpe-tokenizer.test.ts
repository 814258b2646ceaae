import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../common/rng.ts';
import { maskTokens } from '../../data/masking.ts';
import { loadTokenizer } from '../../data/tokenizer/load-tokenizer.ts';
import { encodeWithMasks } from '../../cli/fill-mask-command.ts';

const BPE = fileURLToPath(new URL('../../examples/tokenizers/fairy-tales-bpe/', import.meta.url));
const CORPUS = fileURLToPath(new URL('../../examples/corpus/grimm/valid.txt', import.meta.url));
const lines = readFileSync(CORPUS, 'utf8').split('\n').filter(Boolean).slice(0, 200);

test('byte-level BPE tokenizer.json: RoBERTa special ids from the tokenizer config, exact round trip, word starts at Ġ', () => {
  const tok = loadTokenizer(BPE);
  assert.equal(tok.kind, 'tokenizer.json');
  assert.deepEqual(tok.special, { pad: 1, unk: 3, cls: 0, sep: 2, mask: 4095 });
  assert.equal(tok.vocabSize, 4096);
  for (const line of lines) assert.equal(tok.decode!(tok.encode(line).ids), line);
  const e = tok.encode('The king\'s daughter, unhappily, wept.');
  const words = e.ids.map((id) => tok.idToToken(id));
  // A word = the tokens from one word start to the next: whitespace-delimited, punctuation attached.
  const grouped: string[] = [];
  words.forEach((w, i) => (e.wordStarts[i] ? grouped.push(w) : (grouped[grouped.length - 1] += w)));
  assert.deepEqual(grouped.map((w) => w.replace(/^\u0120/, '')), ["The", "king's", 'daughter,', 'unhappily,', 'wept.']);
  assert.ok(e.ids.length > grouped.length, 'some words are several tokens (the test means something)');
});

test('the published formats: vocab.json + merges.txt alone, and merges as pairs (newer tokenizers releases), give the same ids', () => {
  const want = loadTokenizer(BPE);
  const slow = mkdtempSync(join(tmpdir(), 'gradpool-bpe-slow-'));
  for (const f of ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(BPE, f), join(slow, f));
  const pairs = mkdtempSync(join(tmpdir(), 'gradpool-bpe-pairs-'));
  const json = JSON.parse(readFileSync(join(BPE, 'tokenizer.json'), 'utf8'));
  json.model.merges = json.model.merges.map((m: string) => m.split(' '));
  writeFileSync(join(pairs, 'tokenizer.json'), JSON.stringify(json));
  copyFileSync(join(BPE, 'tokenizer_config.json'), join(pairs, 'tokenizer_config.json'));
  for (const dir of [slow, pairs]) {
    const tok = loadTokenizer(dir);
    assert.deepEqual(tok.special, want.special);
    for (const line of lines) assert.deepEqual(tok.encode(line).ids, want.encode(line).ids, `${dir}: ${line}`);
  }
});

test('whole-word masking with BPE: a chosen word is masked in all its tokens', () => {
  const tok = loadTokenizer(BPE);
  const e = tok.encode(lines.slice(0, 20).join(' '));
  const ids = Int32Array.from(e.ids);
  const starts = Uint8Array.from(e.wordStarts);
  const labels = new Int32Array(ids.length);
  const special = new Set(Object.values(tok.special));
  const chosen = maskTokens(ids, starts, labels, { mlmProbability: 0.3, wholeWord: true, maskId: tok.special.mask, vocabSize: tok.vocabSize, specialIds: special }, new Rng(4));
  assert.ok(chosen > 10);
  let multiTokenWords = 0;
  for (let i = 0; i < ids.length; i++) {
    if (!starts[i]) continue;
    let j = i + 1;
    while (j < ids.length && !starts[j]) j++;
    const picked = Array.from(labels.subarray(i, j), (l) => l !== -100);
    assert.ok(picked.every((p) => p === picked[0]), `word at ${i}..${j} partly masked`);
    if (picked[0] && j - i > 1) multiTokenWords++;
  }
  assert.ok(multiTokenWords > 0, 'some chosen words span several tokens');
});

test('fill-mask input with RoBERTa conventions: <s> … </s>, <mask> takes the space before it, [MASK] accepted too', () => {
  const tok = loadTokenizer(BPE);
  for (const text of ['the king and the <mask> lived happily.', 'the king and the [MASK] lived happily.']) {
    const { ids, maskPositions } = encodeWithMasks(tok, text);
    assert.equal(ids[0], 0);
    assert.equal(ids[ids.length - 1], 2);
    assert.equal(maskPositions.length, 1);
    assert.equal(ids[maskPositions[0]!], 4095);
    assert.equal(tok.idToToken(ids[maskPositions[0]! + 1]!), '\u0120lived');
    assert.equal(tok.idToToken(ids[maskPositions[0]! - 1]!), '\u0120the', 'the space went with <mask>, not a lone Ġ');
  }
});

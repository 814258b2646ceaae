import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { torchPython } from '../helpers/torch-reference.ts';

/**
 * A RoBERTa-style byte-level BPE trained by test/reference/train_bpe.py (pure
 * Python) on the bundled corpora must load in @huggingface/tokenizers (the
 * library the coordinator runs) and give, line for line, the ids of the
 * trainer's own independent encoder, and decode back to the exact text.
 */
const TRAIN = fileURLToPath(new URL('./train_bpe.py', import.meta.url));
const CORPUS = fileURLToPath(new URL('../../examples/corpus/', import.meta.url));
const COLLECTIONS = ['grimm', 'japanese-fairy-tales'];
const VOCAB_SIZE = 2000;

const TRICKY = [
  'Ünïcödé — “quotes” ™ 日本語のおとぎ話 🐉🐉',
  '  leading, trailing and   inner spaces  ',
  'tabs\tand\nnew\r\nlines\n\n',
  "it's we'll they've I'm you'd 'quoted' ''s",
  '1234567 3.14 x2 ½',
  '',
];

function python(args: string[]): void {
  execFileSync(torchPython(), [TRAIN, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function trained(): { dir: string; tokenizer: Tokenizer; json: Record<string, any>; config: Record<string, unknown> } {
  const dir = mkdtempSync(join(tmpdir(), 'gradpool-bpe-'));
  const train = COLLECTIONS.map((c) => join(CORPUS, c, 'train.txt'));
  python(['train', '--vocab-size', String(VOCAB_SIZE), '--out', dir, ...train]);
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
  return { dir, tokenizer: new Tokenizer(json, config), json, config };
}

function pythonIds(dir: string, texts: string[]): number[][] {
  writeFileSync(join(dir, 'texts.json'), JSON.stringify(texts));
  python(['encode', dir, join(dir, 'texts.json'), join(dir, 'ids.json')]);
  return JSON.parse(readFileSync(join(dir, 'ids.json'), 'utf8'));
}

const { dir, tokenizer, json, config } = trained();
after(() => rmSync(dir, { recursive: true, force: true }));
const encode = (t: Tokenizer, text: string): number[] => t.encode(text, { add_special_tokens: false }).ids;

test('every corpus line and odd text: same ids as the Python encoder, and decodes to itself', () => {
  const lines = COLLECTIONS.flatMap((c) =>
    ['train', 'valid', 'test'].flatMap((s) => readFileSync(join(CORPUS, c, `${s}.txt`), 'utf8').split('\n').filter(Boolean)),
  );
  const texts = [...lines, ...TRICKY];
  const want = pythonIds(dir, texts);
  let tokens = 0;
  texts.forEach((text, i) => {
    const ids = encode(tokenizer, text);
    assert.deepEqual(ids, want[i], `text ${i}: ${JSON.stringify(text.slice(0, 60))}`);
    // decode([]) throws in @huggingface/tokenizers 0.2 ("non-empty array"): callers must guard empty input.
    const back = ids.length ? tokenizer.decode(ids, { clean_up_tokenization_spaces: false }) : '';
    assert.equal(back, text, `text ${i} round trip`);
    tokens += ids.length;
  });
  console.log(`${texts.length} texts, ${tokens} tokens: ids identical, round trip exact`);
});

test('RoBERTa conventions: <s>=0 <pad>=1 </s>=2 <unk>=3, <mask> last and absorbing the space before it', () => {
  assert.deepEqual(
    ['<s>', '<pad>', '</s>', '<unk>', '<mask>'].map((t) => tokenizer.token_to_id(t)),
    [0, 1, 2, 3, VOCAB_SIZE - 1],
  );
  assert.equal(config.mask_token, '<mask>');
  const ids = tokenizer.encode('the king <mask> away', { add_special_tokens: true }).ids;
  assert.deepEqual(ids, [0, ...encode(tokenizer, 'the king'), VOCAB_SIZE - 1, ...encode(tokenizer, ' away'), 2]);
  // Word starts for whole-word masking: the first token and every token carrying the Ġ (space) marker.
  const words = 'the youngest princess answered thoughtfully and wandered away';
  const pieces = encode(tokenizer, words).map((i) => tokenizer.id_to_token(i)!);
  assert.ok(pieces.length > words.split(' ').length, `some word is split into pieces: ${pieces.join(' ')}`);
  assert.equal(pieces.filter((t, k) => k === 0 || t.startsWith('Ġ')).length, words.split(' ').length);
});

test('merges written as pairs (the newer tokenizer.json form) load to the same tokenizer', () => {
  const pairs = structuredClone(json);
  pairs.model.merges = json.model.merges.map((m: string) => m.split(' '));
  const other = new Tokenizer(pairs, config);
  for (const text of TRICKY) assert.deepEqual(encode(other, text), encode(tokenizer, text));
});

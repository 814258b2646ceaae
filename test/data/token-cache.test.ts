import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BlockDataset } from '../../data/blocks.ts';
import { tokenizeCorpus } from '../../data/tokenize-corpus.ts';
import { TokenCache } from '../../data/token-cache.ts';
import { loadTokenizer } from '../../data/tokenizer/load-tokenizer.ts';
import { scratchDir } from '../helpers/torch-reference.ts';

const tokenizer = loadTokenizer(new URL('../fixtures/bert-base-uncased/vocab.txt', import.meta.url).pathname);
const quiet = () => {};

test('the cache holds every document tokenized, and is reused on a second run', async () => {
  const dir = scratchDir('cache');
  const corpus = join(dir, 'c.txt');
  const docs = ['Hello, world!', 'The King’s son.', '', 'unaffable'];
  writeFileSync(corpus, docs.join('\n'));
  const a = await tokenizeCorpus({ files: [corpus], validRatio: 0, tokenizer, cacheDir: join(dir, 'cache'), log: quiet });
  assert.equal(a.reused, false);
  const expected = docs.filter(Boolean).flatMap((d) => tokenizer.encode(d).ids);
  assert.deepEqual(Array.from(a.train.tokens), expected);
  assert.equal(a.train.numDocs, 3);
  assert.deepEqual(Array.from(a.train.docOffsets), [0, 4, 4 + tokenizer.encode(docs[1]!).ids.length, expected.length]);
  assert.deepEqual(a.report[0]!.bad, { empty: 1 });
  const b = await tokenizeCorpus({ files: [corpus], validRatio: 0, tokenizer, cacheDir: join(dir, 'cache'), log: quiet });
  assert.equal(b.reused, true);
  assert.equal(b.key, a.key);
});

test('a changed corpus gets a new key; a truncated or corrupted cache is rebuilt, never read', async () => {
  const dir = scratchDir('cache-stale');
  const corpus = join(dir, 'c.txt');
  writeFileSync(corpus, 'one document\nanother document\n');
  const cacheDir = join(dir, 'cache');
  const a = await tokenizeCorpus({ files: [corpus], validRatio: 0, tokenizer, cacheDir, log: quiet });
  appendFileSync(corpus, 'a third\n');
  const b = await tokenizeCorpus({ files: [corpus], validRatio: 0, tokenizer, cacheDir, log: quiet });
  assert.notEqual(b.key, a.key);
  assert.equal(b.reused, false);
  assert.equal(b.train.numDocs, 3);

  const path = b.train.path;
  truncateSync(path, readFileSync(path).byteLength - 5);
  assert.throws(() => TokenCache.open(path), /truncated or corrupt/);
  const lines: string[] = [];
  const c = await tokenizeCorpus({ files: [corpus], validRatio: 0, tokenizer, cacheDir, log: (l) => lines.push(l) });
  assert.equal(c.reused, false);
  assert.ok(lines.some((l) => /rebuilding the token cache: .*truncated or corrupt/.test(l)), lines.join('\n'));
  assert.equal(c.train.numDocs, 3);

  const bytes = readFileSync(path);
  bytes[bytes.byteLength - 40] = bytes[bytes.byteLength - 40]! ^ 1;
  writeFileSync(path, bytes);
  assert.throws(() => TokenCache.open(path), /checksum/);
  assert.throws(() => TokenCache.open(c.valid.path, 'another-key'), /stale/);
});

test('bad rows above the threshold stop the job naming the file and first lines; below it they are counted', async () => {
  const dir = scratchDir('cache-bad');
  const corpus = join(dir, 'c.jsonl');
  const good = Array.from({ length: 97 }, (_, i) => JSON.stringify({ text: `document number ${i}` }));
  writeFileSync(corpus, [...good.slice(0, 10), '{"text": NaN}', '{"text": null}', ...good.slice(10), '{"text": 7}'].join('\n'));
  await assert.rejects(
    tokenizeCorpus({ files: [corpus], tokenizer, cacheDir: join(dir, 'cache'), maxBadFraction: 0.01, log: quiet }),
    /c\.jsonl: 3 of 100 rows are bad .*line 11 \(malformed.*line 12 \(not-a-string/,
  );
  const ok = await tokenizeCorpus({ files: [corpus], tokenizer, cacheDir: join(dir, 'cache'), maxBadFraction: 0.05, log: quiet });
  assert.deepEqual(ok.report[0]!.bad, { malformed: 1, 'not-a-string': 2 });
  assert.equal(ok.train.numDocs + ok.valid.numDocs, 97);
});

test('the validation split by ratio is deterministic per seed, and validFiles are used as given', async () => {
  const dir = scratchDir('split');
  const corpus = join(dir, 'c.txt');
  writeFileSync(corpus, Array.from({ length: 400 }, (_, i) => `doc ${i}`).join('\n'));
  const run = (seed: number, sub: string) =>
    tokenizeCorpus({ files: [corpus], validRatio: 0.25, splitSeed: seed, tokenizer, cacheDir: join(dir, sub), log: quiet });
  const [a, b, c] = [await run(1, 'a'), await run(1, 'b'), await run(2, 'c')];
  assert.deepEqual(Array.from(a.valid.tokens), Array.from(b.valid.tokens));
  assert.notDeepEqual(Array.from(a.valid.tokens), Array.from(c.valid.tokens));
  assert.ok(a.valid.numDocs > 60 && a.valid.numDocs < 140, `${a.valid.numDocs} of 400 held out at 0.25`);
  assert.equal(a.train.numDocs + a.valid.numDocs, 400);
  const v = join(dir, 'v.txt');
  writeFileSync(v, 'held out text');
  const d = await tokenizeCorpus({ files: [corpus], validFiles: [v], tokenizer, cacheDir: join(dir, 'd'), log: quiet });
  assert.equal(d.train.numDocs, 400);
  assert.deepEqual(Array.from(d.valid.tokens), tokenizer.encode('held out text').ids);
});

test('blocks: [CLS] body [SEP] of seqLen − 2 tokens, remainder dropped, short corpus padded', async () => {
  const dir = scratchDir('blocks');
  const corpus = join(dir, 'c.txt');
  writeFileSync(corpus, 'a b c d e f g\nh i j');
  const { train } = await tokenizeCorpus({ files: [corpus], validRatio: 0, tokenizer, cacheDir: join(dir, 'cache'), log: quiet });
  const ids = new Int32Array(6);
  const ws = new Uint8Array(6);
  const att = new Int32Array(6);
  const blocks = new BlockDataset(train, 6, tokenizer.special);
  assert.equal(blocks.length, 2); // 10 tokens, 4 a block
  assert.equal(blocks.droppedTokens, 2);
  const all = Array.from(train.tokens);
  blocks.read(1, ids, ws, att);
  assert.deepEqual(Array.from(ids), [101, ...all.slice(4, 8), 102]);
  assert.deepEqual(Array.from(att), [1, 1, 1, 1, 1, 1]);
  const padded = new BlockDataset(train, 16, tokenizer.special);
  assert.equal(padded.length, 1);
  const ids16 = new Int32Array(16);
  const att16 = new Int32Array(16);
  padded.read(0, ids16, new Uint8Array(16), att16);
  assert.deepEqual(Array.from(ids16), [101, ...all, 102, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(att16), [...Array(12).fill(1), 0, 0, 0, 0]);
});

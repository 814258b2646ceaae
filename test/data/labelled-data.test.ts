import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { encodeExample } from '../../data/encode-example.ts';
import { readExampleCache } from '../../data/example-cache.ts';
import { prepareLabelledData } from '../../data/labelled-dataset.ts';
import { readLabelled, type BadLabelledRow, type LabelledRow } from '../../data/labelled-readers.ts';
import { stratifiedSplit } from '../../data/stratified-split.ts';
import { loadTokenizer } from '../../data/tokenizer/load-tokenizer.ts';
import { LABELLED_DATA_DEFAULTS, type LabelledDataSpec } from '../../spec/classification-spec.ts';
import { scratchDir } from '../helpers/torch-reference.ts';

const dir = scratchDir('labelled');
const tok = loadTokenizer(new URL('../fixtures/bert-base-uncased', import.meta.url).pathname);
const read = { textField: 'text', pairField: '', labelField: 'label', maxChars: 200, where: 'stages[1].labels' };
const quiet = () => {};

async function rows(path: string, o = read): Promise<Array<LabelledRow | BadLabelledRow>> {
  const out: Array<LabelledRow | BadLabelledRow> = [];
  for await (const r of readLabelled(path, o)) out.push(r);
  return out;
}

const spec = (train: string[], over: Partial<LabelledDataSpec> = {}): LabelledDataSpec => ({ ...LABELLED_DATA_DEFAULTS, train, ...over });

test('csv: columns by header name, quoted newlines; empty text, NaN and missing labels are bad rows with their lines', async () => {
  const p = join(dir, 'a.csv');
  writeFileSync(p, 'id,label,text\n1,pos,"a good, long\nstory"\n2,neg,   \n3,NaN,fine text\n4,,no label\n5,neg,N/A\n\n6,neg,last one\n');
  assert.deepEqual(await rows(p), [
    { text: 'a good, long\nstory', pair: '', label: 'pos', line: 2 },
    { bad: 'empty', line: 4, detail: 'text' },
    { bad: 'nan-label', line: 5, detail: 'label is "NaN"' },
    { bad: 'no-label', line: 6, detail: 'label is empty' },
    { bad: 'nan', line: 7, detail: 'text' },
    { bad: 'empty', line: 8 },
    { text: 'last one', pair: '', label: 'neg', line: 9 },
  ]);
  await assert.rejects(rows(p, { ...read, textField: 'sentence' }), /stages\[1\]\.labels\.text_field: .*a\.csv: no column "sentence" in the header \(id, label, text\)/);
});

test('jsonl (gzip) and tsv: numeric labels, text pairs, malformed rows', async () => {
  const p = join(dir, 'b.jsonl.gz');
  const lines = ['{"q": "is it?", "a": "yes", "y": 1}', '{"q": "x", "a": null, "y": 0}', '{"q": "x", "a": "z", "y": NaN}', '{"q": "cut', '[1]', '{"q": "ok", "a": "b", "y": true}'];
  writeFileSync(p, gzipSync(lines.join('\n')));
  const o = { ...read, textField: 'q', pairField: 'a', labelField: 'y' };
  assert.deepEqual((await rows(p, o)).map((r) => ('bad' in r ? r.bad : `${r.text}|${r.pair}|${r.label}`)), ['is it?|yes|1', 'not-a-string', 'malformed', 'malformed', 'malformed', 'ok|b|true']);
  const t = join(dir, 'c.tsv');
  writeFileSync(t, 'label\ttext\nb\tone\na\ttwo\tthree\nc\n');
  assert.deepEqual((await rows(t)).map((r) => ('bad' in r ? `${r.bad}@${r.line}` : r.text)), ['one', 'two', 'malformed@4']);
});

test('pairs are truncated longest first to seq_len, with token types 1 on the second text', () => {
  const e = encodeExample(tok, 'one two three four five six', 'seven eight', 10);
  const { cls, sep, pad } = tok.special;
  const w = (s: string) => tok.encode(s).ids;
  // room 7: the longer text loses tokens until 5 + 2 fit.
  assert.deepEqual(Array.from(e.ids), [cls, ...w('one two three four five'), sep, ...w('seven eight'), sep]);
  assert.deepEqual(Array.from(e.tokenTypes), [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
  assert.equal(e.length, 10);
  const single = encodeExample(tok, 'once upon a time', '', 12);
  assert.deepEqual(Array.from(single.ids), [cls, ...w('once upon a time'), sep, ...new Array(6).fill(pad)]);
  assert.equal(single.length, 6);
  assert.ok(single.tokenTypes.every((x) => x === 0));
});

test('stratified split keeps each label\'s share, is seeded, and never empties a label', () => {
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i % 10 < 7 ? 0 : i % 10 < 9 ? 1 : 2));
  const a = stratifiedSplit(labels, 3, 0.2, 5);
  const count = (idx: number[], l: number) => idx.filter((i) => labels[i] === l).length;
  assert.deepEqual([0, 1, 2].map((l) => count(a.valid, l)), [140, 40, 20]);
  assert.equal(a.train.length + a.valid.length, 1000);
  assert.deepEqual(stratifiedSplit(labels, 3, 0.2, 5), a, 'same seed, same split');
  assert.notDeepEqual(stratifiedSplit(labels, 3, 0.2, 6).valid, a.valid);
  // Labels with two or more examples give at least one; a single example stays in training.
  const few = Int32Array.from([0, 0, 1, 1, 1, 2]);
  const tiny = stratifiedSplit(few, 3, 0.1, 1);
  assert.deepEqual([0, 1, 2].map((l) => tiny.valid.filter((i) => few[i] === l).length), [1, 1, 0]);
});

test('prepareLabelledData: sorted label ids, stratified valid, caches reused; bad files stop the job naming file and rows', async () => {
  const p = join(dir, 'train.csv');
  const body = Array.from({ length: 60 }, (_, i) => `"tale number ${i}",${i % 3 === 0 ? 'japanese' : 'grimm'}`);
  writeFileSync(p, `text,label\n${body.join('\n')}\n"",grimm\n`);
  const o = { spec: spec([p], { valid_ratio: 0.25, max_bad_fraction: 0.05 }), where: 'stages[1].labels', tokenizer: tok, seqLen: 16, cacheDir: join(dir, 'cache'), seed: 3, log: quiet };
  const d = await prepareLabelledData(o);
  assert.deepEqual(d.labels, ['grimm', 'japanese']);
  assert.deepEqual([d.train.perLabel, d.valid.perLabel], [[30, 15], [10, 5]]);
  assert.deepEqual(d.report[0]!.bad, { empty: 1 });
  const train = readExampleCache(d.train.path, d.key);
  assert.equal(train.header.seqLen, 16);
  assert.equal(train.labels.filter((l) => l === 1).length, 15);
  assert.equal(train.ids[0], tok.special.cls);
  const logs: string[] = [];
  const again = await prepareLabelledData({ ...o, log: (l) => logs.push(l) });
  assert.deepEqual(again, d);
  assert.match(logs[0]!, /example cache reused/);

  // Given names: their order is the id order, and other labels are bad rows (here too many).
  await assert.rejects(
    prepareLabelledData({ ...o, spec: spec([p], { names: ['japanese', 'wales'], valid_ratio: 0.25 }) }),
    (e: Error) => /stages\[1\]\.labels: .*train\.csv: 41 of 61 rows are bad .*"unknown-label":40.*first: line 3 \(unknown-label: "grimm"\)/.test(e.message),
  );
  const named = await prepareLabelledData({ ...o, spec: spec([p], { names: ['japanese', 'grimm'], valid_ratio: 0.25, max_bad_fraction: 0.05 }) });
  assert.deepEqual(named.train.perLabel, [15, 30]);

  const one = join(dir, 'one.csv');
  writeFileSync(one, 'text,label\na,x\nb,x\n');
  await assert.rejects(prepareLabelledData({ ...o, spec: spec([one]) }), /stages\[1\]\.labels: the training files hold 1 label\(s\) \(x\); a classifier needs two or more/);

  // A corrupted cache is noticed and rebuilt, never read.
  const raw = readFileSync(d.train.path);
  raw[raw.length - 40] ^= 0xff;
  writeFileSync(d.train.path, raw);
  assert.throws(() => readExampleCache(d.train.path), /checksum mismatch/);
  const rebuilt = await prepareLabelledData(o);
  assert.deepEqual(readExampleCache(rebuilt.train.path, d.key).labels, train.labels);
});

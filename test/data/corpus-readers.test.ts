import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { readCorpus, type CorpusRow } from '../../data/corpus-readers.ts';
import { scratchDir } from '../helpers/torch-reference.ts';

async function rows(path: string, opts = {}): Promise<CorpusRow[]> {
  const out: CorpusRow[] = [];
  for await (const r of readCorpus(path, opts)) out.push(r);
  return out;
}

const dir = scratchDir('readers');

test('txt: one document a line; blank, invalid UTF-8, over-long and CRLF lines', async () => {
  const p = join(dir, 'c.txt');
  const bad = Buffer.from([0x66, 0x6f, 0xff, 0xfe, 0x6f]);
  writeFileSync(p, Buffer.concat([Buffer.from('first doc\r\n\n   \n'), bad, Buffer.from('\n' + 'y'.repeat(50) + '\nlast without newline')]));
  const r = await rows(p, { maxChars: 40 });
  assert.deepEqual(r, [
    { text: 'first doc', line: 1 },
    { bad: 'empty', line: 2 },
    { bad: 'empty', line: 3 },
    { bad: 'invalid-utf8', line: 4 },
    { bad: 'too-long', line: 5, detail: '50 chars' },
    { text: 'last without newline', line: 6 },
  ]);
});

test('jsonl (gzip): field by name; null, number, NaN, malformed JSON and missing field', async () => {
  const p = join(dir, 'c.jsonl.gz');
  const lines = [
    '{"text": "good one", "id": 1}',
    '{"text": null}',
    '{"text": 3.5}',
    '{"text": "NaN"}',
    '{"text": "cut',
    '{"body": "no text field"}',
    '{"text": "another"}',
  ];
  writeFileSync(p, gzipSync(lines.join('\n')));
  const r = await rows(p);
  assert.deepEqual(
    r.map((x) => ('bad' in x ? x.bad : x.text)),
    ['good one', 'not-a-string', 'not-a-string', 'nan', 'malformed', 'not-a-string', 'another'],
  );
  assert.deepEqual(r.map((x) => x.line), [1, 2, 3, 4, 5, 6, 7]);
});

test('csv: quoted commas, doubled quotes, multi-line cells, NaN and empty cells, short rows', async () => {
  const p = join(dir, 'c.csv');
  writeFileSync(
    p,
    'id,text,label\n' +
      '1,"hello, world",a\n' +
      '2,"she said ""hi""",b\n' +
      '3,"two\nlines",c\n' +
      '4,NaN,d\n' +
      '5,,e\n' +
      '6\n' +
      '7,plain,f\n',
  );
  const r = await rows(p);
  assert.deepEqual(r, [
    { text: 'hello, world', line: 2 },
    { text: 'she said "hi"', line: 3 },
    { text: 'two\nlines', line: 4 },
    { bad: 'nan', line: 6 },
    { bad: 'empty', line: 7 },
    { bad: 'malformed', line: 8, detail: '1 fields, column text is #2' },
    { text: 'plain', line: 9 },
  ]);
});

test('tsv: column by name; a missing column names the header', async () => {
  const p = join(dir, 'c.tsv');
  writeFileSync(p, 'abstract\tyear\nCells divide.\t1999\n');
  assert.deepEqual(await rows(p, { column: 'abstract' }), [{ text: 'Cells divide.', line: 2 }]);
  await assert.rejects(rows(p, { column: 'text' }), /no column "text" in the header \(abstract, year\)/);
});

test('an unterminated quote does not swallow the file', async () => {
  const p = join(dir, 'open.csv');
  writeFileSync(p, 'text\n"never closed\nmore\n');
  const r = await rows(p);
  assert.deepEqual(r, [{ bad: 'malformed', line: 2, detail: 'unterminated quoted field at end of file' }]);
});

test('unknown extension and missing file are named', async () => {
  await assert.rejects(rows(join(dir, 'x.parquet')), /unknown corpus format "\.parquet"/);
  await assert.rejects(rows(join(dir, 'missing.txt')), /missing\.txt/);
});

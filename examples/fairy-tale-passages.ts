/**
 * Labelled passages for `npm run demo:classify`: each bundled collection's
 * train/valid/test split (examples/corpus/<collection>/*.txt, one sentence a
 * line) cut into passages of `linesPerPassage` consecutive non-empty lines,
 * labelled with the collection's name, written as text,label CSV files
 * (RFC 4180 quoting). Deterministic: the same corpus gives the same files.
 *
 *   node --import tsx examples/fairy-tale-passages.ts [out dir]   # default .cache/fairy-tale-passages
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CORPUS = new URL('./corpus/', import.meta.url).pathname;
export const COLLECTIONS = ['grimm', 'japanese-fairy-tales'] as const;
export const SPLITS = ['train', 'valid', 'test'] as const;

export interface PassageOptions {
  linesPerPassage?: number;
  /** At most this many passages per collection and split (the first ones); default all. */
  maxPerSplit?: number;
}

/** Passages of one collection's split, in corpus order. */
export function passages(collection: string, split: string, o: PassageOptions = {}): string[] {
  const per = o.linesPerPassage ?? 3;
  const lines = readFileSync(join(CORPUS, collection, `${split}.txt`), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const out: string[] = [];
  for (let i = 0; i + per <= lines.length && out.length < (o.maxPerSplit ?? Infinity); i += per) out.push(lines.slice(i, i + per).join(' '));
  return out;
}

const csvCell = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** Writes <outDir>/{train,valid,test}.csv; returns their paths. */
export function writePassages(outDir: string, o: PassageOptions = {}): Record<(typeof SPLITS)[number], string> {
  mkdirSync(outDir, { recursive: true });
  const paths = {} as Record<(typeof SPLITS)[number], string>;
  for (const split of SPLITS) {
    const rows = COLLECTIONS.flatMap((c) => passages(c, split, o).map((p) => `${csvCell(p)},${c}`));
    paths[split] = join(outDir, `${split}.csv`);
    writeFileSync(paths[split], `text,label\n${rows.join('\n')}\n`);
  }
  return paths;
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const out = process.argv[2] ?? join(new URL('..', import.meta.url).pathname, '.cache', 'fairy-tale-passages');
  const paths = writePassages(out);
  for (const [split, p] of Object.entries(paths)) console.error(`passages: ${split}: ${p}`);
}

import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-write.ts';
import { Rng } from '../common/rng.ts';
import { Progress } from '../common/progress.ts';
import type { LabelledDataSpec } from '../spec/classification-spec.ts';
import { encodeExample } from './encode-example.ts';
import { tryReadExampleCache, writeExampleCache } from './example-cache.ts';
import { readLabelled, type LabelledBadReason, type LabelledRow } from './labelled-readers.ts';
import { stratifiedSplit } from './stratified-split.ts';
import type { FileReport } from './tokenize-corpus.ts';
import type { Tokenizer } from './tokenizer/tokenizer.ts';

/** Bump when the cache layout or the encoding changes. */
const CACHE_VERSION = 1;

export interface LabelledDataOptions {
  spec: LabelledDataSpec;
  /** The spec's field path in messages, e.g. "stages[1].labels". */
  where: string;
  tokenizer: Tokenizer;
  seqLen: number;
  cacheDir: string;
  /** Seeds the stratified validation split. */
  seed: number;
  log?: (line: string) => void;
}

export type LabelledFileReport = FileReport<LabelledBadReason>;

export interface LabelledSplit {
  path: string;
  count: number;
  /** Examples per label id. */
  perLabel: number[];
}

/** What a classification stage trains on: label names in id order and the two example caches. */
export interface LabelledData {
  labels: string[];
  key: string;
  train: LabelledSplit;
  valid: LabelledSplit;
  report: LabelledFileReport[];
}

type Row = LabelledRow & { file: string };

/**
 * Labelled files → label vocabulary, a (stratified) validation split and
 * two example caches, reused when the files, the tokenizer and the settings
 * are unchanged. Bad rows are counted per file and reason; above
 * max_bad_fraction of a file's rows the job stops, naming the file and rows.
 */
export async function prepareLabelledData(o: LabelledDataOptions): Promise<LabelledData> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  mkdirSync(o.cacheDir, { recursive: true });
  const key = await cacheKey(o);
  const summaryPath = join(o.cacheDir, `${key}.labels.json`);
  const cached = reuse(summaryPath, key);
  if (cached) {
    for (const r of cached.report) checkBadFraction(r, o.spec.max_bad_fraction, o.where);
    log(`labels: ${o.where}: example cache reused (${describe(cached)}, key ${key.slice(0, 12)})`);
    return cached;
  }
  const { rows: trainRows, report } = await readFiles(o, o.spec.train);
  const labels = o.spec.names.length ? o.spec.names : [...new Set(trainRows.map((r) => r.label))].sort();
  const known = new Map(labels.map((l, i) => [l, i]));
  const train = keepKnown(trainRows, known, report);
  let valid: Row[];
  if (o.spec.valid.length) {
    const v = await readFiles(o, o.spec.valid);
    report.push(...v.report);
    valid = keepKnown(v.rows, known, v.report);
  } else {
    const split = stratifiedSplit(Int32Array.from(train, (r) => known.get(r.label)!), labels.length, o.spec.valid_ratio, o.seed);
    valid = split.valid.map((i) => train[i]!);
    train.splice(0, train.length, ...split.train.map((i) => train[i]!));
  }
  for (const r of report) checkBadFraction(r, o.spec.max_bad_fraction, o.where);
  checkCoverage(o.where, labels, train, valid);
  // A seeded order, so that an evaluation capped at max_eval_samples reads a sample of every label, not a file's first rows.
  new Rng(o.seed ^ 0x7a11d).shuffle(valid);
  const data: LabelledData = {
    labels,
    key,
    train: writeSplit(o, key, 'train', train, known),
    valid: writeSplit(o, key, 'valid', valid, known),
    report,
  };
  writeFileAtomic(summaryPath, Buffer.from(JSON.stringify(data, null, 2)));
  log(`labels: ${o.where}: ${describe(data)}${describeBad(report)}`);
  return data;
}

function describe(d: LabelledData): string {
  const per = d.labels.map((l, i) => `${l} ${d.train.perLabel[i]}/${d.valid.perLabel[i]}`).join(', ');
  return `${d.train.count} train / ${d.valid.count} valid examples, ${d.labels.length} labels (train/valid: ${per})`;
}

function describeBad(report: LabelledFileReport[]): string {
  const parts = report.filter((r) => r.good < r.rows).map((r) => `${basename(r.file)}: ${Object.entries(r.bad).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  return parts.length ? `; skipped bad rows (${parts.join('; ')})` : '';
}

async function readFiles(o: LabelledDataOptions, files: string[]): Promise<{ rows: Row[]; report: LabelledFileReport[] }> {
  const rows: Row[] = [];
  const report: LabelledFileReport[] = [];
  const read = { textField: o.spec.text_field, pairField: o.spec.text_pair_field, labelField: o.spec.label_field, maxChars: o.spec.max_chars, where: o.where };
  for (const file of files) {
    const rep: LabelledFileReport = { file, rows: 0, good: 0, bad: {}, firstBad: [] };
    let bytes = 0;
    const bar = new Progress({ label: `read ${basename(file)}`, total: statSync(file).size, unit: 'bytes' });
    for await (const row of readLabelled(file, read, (n) => (bytes += n))) {
      rep.rows++;
      if ('bad' in row) countBad(rep, row.bad, row.line, row.detail);
      else {
        rep.good++;
        rows.push({ ...row, file });
      }
      if ((rep.rows & 1023) === 0) bar.update(bytes);
    }
    bar.finish(`${rep.good} examples`);
    report.push(rep);
  }
  return { rows, report };
}

function countBad(rep: LabelledFileReport, reason: LabelledBadReason, line: number, detail?: string): void {
  rep.bad[reason] = (rep.bad[reason] ?? 0) + 1;
  if (rep.firstBad.length < 10) rep.firstBad.push({ line, reason, ...(detail ? { detail } : {}) });
}

/** Rows whose label is not one of the names become bad rows of their file. */
function keepKnown(rows: Row[], known: Map<string, number>, report: LabelledFileReport[]): Row[] {
  return rows.filter((r) => {
    if (known.has(r.label)) return true;
    const rep = report.find((x) => x.file === r.file)!;
    rep.good--;
    countBad(rep, 'unknown-label', r.line, JSON.stringify(r.label));
    return false;
  });
}

function checkBadFraction(rep: LabelledFileReport, maxBad: number, where: string): void {
  const bad = rep.rows - rep.good;
  if (rep.rows === 0 || bad / rep.rows <= maxBad) return;
  const lines = [...rep.firstBad]
    .sort((a, b) => a.line - b.line)
    .map((b) => `line ${b.line} (${b.reason}${b.detail ? `: ${b.detail}` : ''})`)
    .join(', ');
  throw new Error(
    `${where}: ${rep.file}: ${bad} of ${rep.rows} rows are bad (${((bad / rep.rows) * 100).toFixed(1)}% > max_bad_fraction ` +
      `${maxBad * 100}%): ${JSON.stringify(rep.bad)}; first: ${lines}`,
  );
}

function checkCoverage(where: string, labels: string[], train: Row[], valid: Row[]): void {
  if (labels.length < 2) {
    throw new Error(`${where}: the training files hold ${labels.length} label(s) (${labels.join(', ') || 'none'}); a classifier needs two or more`);
  }
  const missing = labels.filter((l) => !train.some((r) => r.label === l));
  if (missing.length) throw new Error(`${where}: no training example of ${missing.map((l) => JSON.stringify(l)).join(', ')} (labels: ${labels.join(', ')})`);
  if (valid.length === 0) throw new Error(`${where}: the validation split is empty (valid files, or a larger valid_ratio)`);
}

function writeSplit(o: LabelledDataOptions, key: string, split: 'train' | 'valid', rows: Row[], known: Map<string, number>): LabelledSplit {
  const L = o.seqLen;
  const n = rows.length;
  const ids = new Int32Array(n * L);
  const tokenTypes = new Uint8Array(n * L);
  const lengths = new Int32Array(n);
  const labels = new Int32Array(n);
  const perLabel = new Array<number>(known.size).fill(0);
  const bar = new Progress({ label: `tokenize ${o.where} ${split}`, total: n, unit: 'items' });
  rows.forEach((r, i) => {
    const e = encodeExample(o.tokenizer, r.text, r.pair, L);
    ids.set(e.ids, i * L);
    tokenTypes.set(e.tokenTypes, i * L);
    lengths[i] = e.length;
    labels[i] = known.get(r.label)!;
    perLabel[labels[i]!]!++;
    if ((i & 255) === 0) bar.update(i);
  });
  bar.finish(`${n} examples`);
  const path = join(o.cacheDir, `${key}.${split}.examples`);
  writeExampleCache(path, { header: { key, count: n, seqLen: L }, ids, tokenTypes, lengths, labels });
  return { path, count: n, perLabel };
}

function reuse(summaryPath: string, key: string): LabelledData | null {
  if (!existsSync(summaryPath)) return null;
  const d = JSON.parse(readFileSync(summaryPath, 'utf8')) as LabelledData;
  const ok = [d.train, d.valid].every((s) => tryReadExampleCache(s.path, key).examples?.header.count === s.count);
  return ok ? d : null;
}

async function cacheKey(o: LabelledDataOptions): Promise<string> {
  const h = createHash('sha256');
  const { max_bad_fraction: _, ...settings } = o.spec;
  h.update(JSON.stringify({ v: CACHE_VERSION, tok: o.tokenizer.fingerprint, seqLen: o.seqLen, seed: o.seed, settings }));
  for (const f of [...o.spec.train, ...o.spec.valid]) h.update(`${f}:${await contentHash(f)}`);
  return h.digest('hex').slice(0, 40);
}

async function contentHash(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

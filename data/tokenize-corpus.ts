import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { removeStaleTemporaries, writeFileAtomic } from '../common/atomic-write.ts';
import { Progress } from '../common/progress.ts';
import type { Tokenizer } from './tokenizer/tokenizer.ts';
import { checkCorpusFile, corpusFormat, readCorpus, type BadReason, type CorpusReadOptions } from './corpus-readers.ts';
import { cachePath, TokenCache, TokenCacheWriter } from './token-cache.ts';

/** Bump when the cache layout or tokenization semantics change. */
const CACHE_VERSION = 1;

export interface TokenizeOptions {
  /** Training documents. */
  files: string[];
  /** Validation documents; when absent, `validRatio` of the training documents are held out. */
  validFiles?: string[];
  /** Fraction of documents held out for validation when no validFiles; default 0.05. */
  validRatio?: number;
  /** Seed of the held-out choice; default 0. */
  splitSeed?: number;
  tokenizer: Tokenizer;
  cacheDir: string;
  read?: CorpusReadOptions;
  /** Above this fraction of bad rows in a file the job stops; default 0.01 (blank .txt lines excluded). */
  maxBadFraction?: number;
  log?: (line: string) => void;
}

/** One file's rows: how many, how many usable, the bad ones by reason and the first of them. */
export interface FileReport<Reason extends string = BadReason> {
  file: string;
  rows: number;
  good: number;
  bad: Partial<Record<Reason, number>>;
  /** First bad rows, for the error message and the run log. */
  firstBad: Array<{ line: number; reason: Reason; detail?: string }>;
}

export interface CorpusData {
  train: TokenCache;
  valid: TokenCache;
  key: string;
  reused: boolean;
  report: FileReport[];
}

/**
 * Corpus → token caches (train, valid). Reuses caches whose key matches the
 * corpus content, tokenizer and settings; otherwise reads, checks and
 * tokenizes every document once, reporting bad rows by reason.
 */
export async function tokenizeCorpus(o: TokenizeOptions): Promise<CorpusData> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  if (o.files.length === 0) throw new Error('corpus: no training files given');
  for (const f of [...o.files, ...(o.validFiles ?? [])]) {
    checkCorpusFile(f);
    corpusFormat(f);
  }
  const validRatio = o.validFiles?.length ? 0 : (o.validRatio ?? 0.05);
  if (!(validRatio >= 0 && validRatio < 1)) throw new Error(`corpus: validRatio ${validRatio} must be in [0, 1)`);
  mkdirSync(o.cacheDir, { recursive: true });
  removeStaleTemporaries(o.cacheDir);
  const key = await cacheKey(o, validRatio);
  const trainPath = cachePath(o.cacheDir, key, 'train');
  const validPath = cachePath(o.cacheDir, key, 'valid');
  const reportPath = `${o.cacheDir}/${key}.report.json`;
  const t = TokenCache.tryOpen(trainPath, key);
  const v = TokenCache.tryOpen(validPath, key);
  const saved = t.cache && v.cache ? readSavedReport(reportPath, log) : null;
  if (t.cache && v.cache && saved) {
    log(`corpus: token cache reused (${t.cache.numTokens} train / ${v.cache.numTokens} valid tokens, key ${key.slice(0, 12)})`);
    return { train: t.cache, valid: v.cache, key, reused: true, report: saved };
  }
  for (const [c, path] of [[t, trainPath], [v, validPath]] as const) {
    if (!c.cache && existsSync(path)) log(`corpus: rebuilding the token cache: ${c.reason}`);
  }

  const maxBad = o.maxBadFraction ?? 0.01;
  const train = new TokenCacheWriter(trainPath, key, o.tokenizer.vocabSize);
  const valid = new TokenCacheWriter(validPath, key, o.tokenizer.vocabSize);
  const report: FileReport[] = [];
  try {
    const seed = o.splitSeed ?? 0;
    let docIndex = 0;
    const sources: Array<[string, 'train' | 'valid']> = [
      ...o.files.map((f) => [f, 'train'] as [string, 'train']),
      ...(o.validFiles ?? []).map((f) => [f, 'valid'] as [string, 'valid']),
    ];
    for (const [file, role] of sources) {
      const rep: FileReport = { file, rows: 0, good: 0, bad: {}, firstBad: [] };
      const size = statSync(file).size;
      let bytes = 0;
      const bar = new Progress({ label: `tokenize ${basename(file)}`, total: size, unit: 'bytes' });
      for await (const row of readCorpus(file, o.read, (n) => (bytes += n))) {
        rep.rows++;
        if ('bad' in row) {
          rep.bad[row.bad] = (rep.bad[row.bad] ?? 0) + 1;
          if (rep.firstBad.length < 10) rep.firstBad.push({ line: row.line, reason: row.bad, detail: row.detail });
        } else {
          rep.good++;
          const enc = o.tokenizer.encode(row.text);
          const toValid = role === 'valid' || (validRatio > 0 && unitHash(seed, docIndex) < validRatio);
          (toValid ? valid : train).addDocument(enc.ids, enc.wordStarts);
          docIndex++;
        }
        if ((rep.rows & 255) === 0) bar.update(bytes);
      }
      bar.update(bytes);
      bar.finish(`${rep.good} documents`);
      report.push(rep);
      checkBadFraction(rep, maxBad);
    }
    const data = { train: train.finish(), valid: valid.finish(), key, reused: false, report };
    writeFileAtomic(reportPath, Buffer.from(JSON.stringify(report, null, 2)));
    log(describeReport(report));
    if (data.train.numTokens === 0) throw new Error(`corpus: no usable training text in ${o.files.join(', ')}`);
    return data;
  } catch (e) {
    train.abort();
    valid.abort();
    throw e;
  }
}

function checkBadFraction(rep: FileReport, maxBad: number): void {
  const isTxt = corpusFormat(rep.file).format === 'txt';
  // Blank lines separate paragraphs in plain text; elsewhere an empty row is a defect.
  const counted = Object.entries(rep.bad).reduce((a, [r, n]) => a + (isTxt && r === 'empty' ? 0 : n!), 0);
  const denominator = rep.rows - (isTxt ? (rep.bad.empty ?? 0) : 0);
  if (denominator > 0 && counted / denominator > maxBad) {
    const lines = rep.firstBad
      .filter((b) => !(isTxt && b.reason === 'empty'))
      .map((b) => `line ${b.line} (${b.reason}${b.detail ? `: ${b.detail}` : ''})`)
      .join(', ');
    throw new Error(
      `corpus: ${rep.file}: ${counted} of ${denominator} rows are bad (${(counted / denominator * 100).toFixed(1)}% > ` +
        `maxBadFraction ${maxBad * 100}%): ${JSON.stringify(rep.bad)}; first: ${lines}`,
    );
  }
}

/** The bad-row report kept beside a cache; a damaged one means the cache is rebuilt (and the report with it). */
function readSavedReport(path: string, log: (l: string) => void): FileReport[] | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as FileReport[];
  } catch (e) {
    log(`corpus: rebuilding the token cache: its report ${path} is unreadable (${(e as Error).message})`);
    return null;
  }
}

export function describeReport(report: FileReport[]): string {
  return report
    .map((r) => {
      const bad = Object.entries(r.bad).map(([k, n]) => `${k} ${n}`).join(', ');
      return `corpus: ${r.file}: ${r.good} documents${bad ? `, skipped ${bad}` : ''}`;
    })
    .join('\n');
}

/** Deterministic per-document coin in [0, 1). */
function unitHash(seed: number, i: number): number {
  let x = (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(seed + 1, 0x85ebca6b)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return ((x ^ (x >>> 16)) >>> 0) / 4294967296;
}

async function cacheKey(o: TokenizeOptions, validRatio: number): Promise<string> {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: CACHE_VERSION, tok: o.tokenizer.fingerprint, read: o.read ?? {}, validRatio, seed: o.splitSeed ?? 0 }));
  for (const f of o.files) h.update(`train:${await contentHash(f)}`);
  for (const f of o.validFiles ?? []) h.update(`valid:${await contentHash(f)}`);
  return h.digest('hex').slice(0, 40);
}

async function contentHash(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 22 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

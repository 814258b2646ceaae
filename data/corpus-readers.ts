import { accessSync, constants, createReadStream, statSync } from 'node:fs';
import { createGunzip } from 'node:zlib';

/**
 * Streaming corpus readers. Real corpora are dirty (a real run died on a NaN
 * cell of a CSV), so a row that cannot be used is yielded as a `BadRow` with
 * its reason and line number, never thrown: the caller counts and reports.
 * Formats: .txt (one document a line), .jsonl (a field, default "text"),
 * .csv / .tsv (a column by name, RFC 4180 quoting), each optionally .gz.
 */
export interface CorpusReadOptions {
  /** JSON field of .jsonl rows; default "text". */
  field?: string;
  /** CSV/TSV column name; default "text". */
  column?: string;
  /** Documents longer than this (in UTF-16 units) are bad rows; default 1,000,000. */
  maxChars?: number;
}

export type BadReason = 'empty' | 'not-a-string' | 'nan' | 'invalid-utf8' | 'too-long' | 'malformed';

export interface GoodRow {
  text: string;
  line: number;
}
export interface BadRow {
  bad: BadReason;
  line: number;
  detail?: string;
}
export type CorpusRow = GoodRow | BadRow;

export type CorpusFormat = 'txt' | 'jsonl' | 'csv' | 'tsv';

export function corpusFormat(path: string): { format: CorpusFormat; gzip: boolean } {
  const gzip = path.endsWith('.gz');
  const base = gzip ? path.slice(0, -3) : path;
  const name = base.slice(base.lastIndexOf('/') + 1);
  const ext = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1).toLowerCase() : '';
  if (ext === 'txt' || ext === 'jsonl' || ext === 'csv' || ext === 'tsv') return { format: ext, gzip };
  if (ext === 'json' || ext === 'ndjson') return { format: 'jsonl', gzip };
  throw new Error(`${path}: unknown corpus format ".${ext}" (use .txt, .jsonl, .csv or .tsv, optionally .gz)`);
}

/** A missing path, a folder or an unreadable file fails before any reading, naming the file. */
export function checkCorpusFile(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`corpus: ${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${(e as Error).message})`}`, { cause: e });
  }
  if (st.isDirectory()) throw new Error(`corpus: ${path} is a folder; give the corpus files in it (.txt, .jsonl, .csv, .tsv, optionally .gz)`);
  if (!st.isFile()) throw new Error(`corpus: ${path} is not a regular file`);
  try {
    accessSync(path, constants.R_OK);
  } catch (e) {
    throw new Error(`corpus: ${path} cannot be read (${(e as Error).message})`, { cause: e });
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true });
export const NAN_CELLS = new Set(['nan', 'NaN', 'NAN', 'null', 'NULL', 'None', '#N/A', 'N/A']);

/** Lines as raw bytes, split on \n (a trailing \r dropped), with the compressed bytes read so far. */
export async function* byteLines(path: string, gzip: boolean, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
  file.on('data', (c) => onBytes((c as Buffer).byteLength));
  const stream = gzip ? file.pipe(createGunzip()) : file;
  // pipe() does not forward the file's errors to the gunzip stream.
  if (gzip) file.on('error', (e) => stream.destroy(e));
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of namedErrors(stream as AsyncIterable<Buffer>, path, gzip)) {
    let buf = rest.byteLength ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      yield trimCr(buf.subarray(start, nl));
      start = nl + 1;
    }
    rest = Buffer.from(buf.subarray(start));
    buf = rest;
  }
  if (rest.byteLength) yield trimCr(rest);
}

/** Read errors that name the file: a truncated .gz says "unexpected end of file" and nothing else. */
async function* namedErrors(chunks: AsyncIterable<Buffer>, path: string, gzip: boolean): AsyncGenerator<Buffer> {
  try {
    yield* chunks;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const zlib = gzip && typeof err.code === 'string' && err.code.startsWith('Z_');
    const why = zlib ? `truncated or corrupt gzip data (${err.message})` : err.message;
    throw new Error(`corpus: ${path}: ${why}`, { cause: e });
  }
}

function trimCr(b: Buffer): Buffer {
  return b.byteLength && b[b.byteLength - 1] === 13 ? b.subarray(0, b.byteLength - 1) : b;
}

export function decodeLine(b: Buffer): string | null {
  try {
    return decoder.decode(b);
  } catch {
    return null;
  }
}

export function checkText(text: string, line: number, maxChars: number): CorpusRow {
  if (text.trim() === '') return { bad: 'empty', line };
  if (text.length > maxChars) return { bad: 'too-long', line, detail: `${text.length} chars` };
  return { text, line };
}

/** Reads one corpus file; `onBytes` reports progress in bytes of the file on disk. */
export async function* readCorpus(
  path: string,
  opts: CorpusReadOptions = {},
  onBytes: (n: number) => void = () => {},
): AsyncGenerator<CorpusRow> {
  const { format, gzip } = corpusFormat(path);
  checkCorpusFile(path);
  const maxChars = opts.maxChars ?? 1_000_000;
  const lines = byteLines(path, gzip, onBytes);
  if (format === 'txt') {
    let n = 0;
    for await (const raw of lines) {
      n++;
      const text = decodeLine(raw);
      yield text === null ? { bad: 'invalid-utf8', line: n } : checkText(text, n, maxChars);
    }
  } else if (format === 'jsonl') {
    yield* readJsonl(lines, opts.field ?? 'text', maxChars);
  } else {
    yield* readDelimited(lines, format === 'csv' ? ',' : '\t', opts.column ?? 'text', maxChars, path);
  }
}

/** The parsed JSON value of each line of a .jsonl file, with its line; undecodable, blank or malformed lines as bad rows. */
export async function* jsonRows(lines: AsyncGenerator<Buffer>): AsyncGenerator<{ row: unknown; line: number } | BadRow> {
  let n = 0;
  for await (const raw of lines) {
    n++;
    const text = decodeLine(raw);
    if (text === null) yield { bad: 'invalid-utf8', line: n };
    else if (text.trim() === '') yield { bad: 'empty', line: n };
    else {
      try {
        yield { row: JSON.parse(text) as unknown, line: n };
      } catch (e) {
        yield { bad: 'malformed', line: n, detail: (e as Error).message };
      }
    }
  }
}

async function* readJsonl(lines: AsyncGenerator<Buffer>, field: string, maxChars: number): AsyncGenerator<CorpusRow> {
  for await (const r of jsonRows(lines)) {
    if ('bad' in r) {
      yield r;
      continue;
    }
    const { row, line: n } = r;
    const value = typeof row === 'object' && row !== null ? (row as Record<string, unknown>)[field] : undefined;
    if (typeof value === 'number' && Number.isNaN(value)) yield { bad: 'nan', line: n };
    else if (typeof value !== 'string') yield { bad: 'not-a-string', line: n, detail: `${field} is ${value === null ? 'null' : typeof value}` };
    else if (NAN_CELLS.has(value.trim())) yield { bad: 'nan', line: n };
    else yield checkText(value, n, maxChars);
  }
}

/** A column's index in a header record, or an error naming the file, the column and the header. */
export function columnIndex(header: string[], column: string, path: string, what = 'column'): number {
  const col = header.findIndex((f) => f.trim() === column);
  if (col < 0) throw new Error(`${path}: no ${what} "${column}" in the header (${header.join(', ')})`);
  return col;
}

/**
 * The records of a .csv/.tsv file (RFC 4180: quoted fields may hold the
 * delimiter, newlines and doubled quotes), the header first, each with the
 * line it starts on; undecodable or unterminated records as bad rows.
 */
export async function* delimitedRecords(
  lines: AsyncGenerator<Buffer>,
  delim: string,
  maxChars: number,
): AsyncGenerator<{ fields: string[]; line: number } | BadRow> {
  let n = 0;
  let pending: string | null = null;
  let pendingStart = 0;
  for await (const raw of lines) {
    n++;
    const text = decodeLine(raw);
    if (text === null) {
      pending = null;
      yield { bad: 'invalid-utf8', line: n };
      continue;
    }
    const record: string = pending === null ? text : `${pending}\n${text}`;
    const start: number = pending === null ? n : pendingStart;
    const fields = splitRecord(record, delim);
    if (fields === null) {
      // An open quote: the record continues on the next line (bounded, so one stray quote cannot swallow the file).
      if (record.length > maxChars) {
        pending = null;
        yield { bad: 'too-long', line: start, detail: 'unterminated quoted field' };
      } else {
        pending = record;
        pendingStart = start;
      }
      continue;
    }
    pending = null;
    yield { fields, line: start };
  }
  if (pending !== null) yield { bad: 'malformed', line: pendingStart, detail: 'unterminated quoted field at end of file' };
}

async function* readDelimited(
  lines: AsyncGenerator<Buffer>,
  delim: string,
  column: string,
  maxChars: number,
  path: string,
): AsyncGenerator<CorpusRow> {
  let col = -1;
  for await (const r of delimitedRecords(lines, delim, maxChars)) {
    if ('bad' in r) {
      yield r;
      continue;
    }
    const { fields, line } = r;
    if (col < 0) {
      col = columnIndex(fields, column, path);
      continue;
    }
    if (fields.length === 1 && fields[0] === '') {
      yield { bad: 'empty', line };
      continue;
    }
    const cell = fields[col];
    if (cell === undefined) yield { bad: 'malformed', line, detail: `${fields.length} fields, column ${column} is #${col + 1}` };
    else if (NAN_CELLS.has(cell.trim())) yield { bad: 'nan', line };
    else yield checkText(cell, line, maxChars);
  }
}

/** Splits one record; null when a quoted field is still open at the end. */
function splitRecord(s: string, delim: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (s[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = s.indexOf('"', i);
        if (q === -1) return null;
        v += s.slice(i, q);
        if (s[q + 1] === '"') {
          v += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      // Anything between the closing quote and the delimiter is kept, as lenient parsers do.
      const d = s.indexOf(delim, i);
      v += d === -1 ? s.slice(i) : s.slice(i, d);
      out.push(v);
      if (d === -1) return out;
      i = d + 1;
    } else {
      const d = s.indexOf(delim, i);
      if (d === -1) {
        out.push(s.slice(i));
        return out;
      }
      out.push(s.slice(i, d));
      i = d + 1;
    }
  }
}

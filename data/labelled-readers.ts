import { statSync } from 'node:fs';
import {
  byteLines,
  checkText,
  columnIndex,
  corpusFormat,
  delimitedRecords,
  jsonRows,
  NAN_CELLS,
  type BadReason,
} from './corpus-readers.ts';

/**
 * Streaming readers of labelled examples: .csv / .tsv (columns by header
 * name) and .jsonl (fields by name), each optionally .gz. Like the corpus
 * readers, a row that cannot be used is yielded with its reason and line,
 * never thrown: an empty or NaN-like text, a missing or NaN-like label,
 * malformed JSON or CSV. Labels are strings (JSON numbers and booleans are
 * written as they print: 0, 1, true).
 */
export interface LabelledReadOptions {
  textField: string;
  /** "" = single texts. */
  pairField: string;
  labelField: string;
  /** Scoring a file: rows without a usable label (or a file without the label column) are read with label "". */
  labelOptional?: boolean;
  maxChars: number;
  /** Names the file's fields in errors, e.g. "stages[1].labels". */
  where: string;
}

export type LabelledBadReason = BadReason | 'no-label' | 'nan-label' | 'unknown-label';

export interface LabelledRow {
  text: string;
  /** The second text of a pair; "" when the job has no text_pair_field. */
  pair: string;
  label: string;
  line: number;
}
export interface BadLabelledRow {
  bad: LabelledBadReason;
  line: number;
  detail?: string;
}

export async function* readLabelled(path: string, o: LabelledReadOptions, onBytes: (n: number) => void = () => {}): AsyncGenerator<LabelledRow | BadLabelledRow> {
  const { format, gzip } = corpusFormat(path);
  if (format === 'txt') throw new Error(`${path}: labelled data must be .csv, .tsv or .jsonl (a .txt file has no label column)`);
  statSync(path); // a missing file fails here, naming it
  const lines = byteLines(path, gzip, onBytes);
  if (format === 'jsonl') yield* readJsonl(lines, o);
  else yield* readDelimited(lines, format === 'csv' ? ',' : '\t', o, path);
}

/** One example from its three cells (undefined = absent); the first problem wins. */
function exampleOf(text: unknown, pair: unknown, label: unknown, line: number, o: LabelledReadOptions): LabelledRow | BadLabelledRow {
  const t = textCell(text, o.textField, line, o.maxChars);
  if ('bad' in t) return t;
  let p = '';
  if (o.pairField) {
    const pc = textCell(pair, o.pairField, line, o.maxChars);
    if ('bad' in pc) return pc;
    p = pc.text;
  }
  const l = labelCell(label, o.labelField, line);
  if (typeof l !== 'string') return o.labelOptional ? { text: t.text, pair: p, label: '', line } : l;
  return { text: t.text, pair: p, label: l, line };
}

function textCell(v: unknown, field: string, line: number, maxChars: number): { text: string } | BadLabelledRow {
  if (typeof v === 'number' && Number.isNaN(v)) return { bad: 'nan', line, detail: field };
  if (typeof v !== 'string') return { bad: 'not-a-string', line, detail: `${field} is ${v === undefined ? 'missing' : v === null ? 'null' : typeof v}` };
  if (NAN_CELLS.has(v.trim())) return { bad: 'nan', line, detail: field };
  const r = checkText(v, line, maxChars);
  return 'bad' in r ? { ...r, detail: r.detail ? `${field}: ${r.detail}` : field } : { text: r.text };
}

function labelCell(v: unknown, field: string, line: number): string | BadLabelledRow {
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) return { bad: 'no-label', line, detail: `${field} is ${v === undefined ? 'missing' : v === null ? 'null' : 'empty'}` };
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : { bad: 'nan-label', line, detail: `${field} is ${v}` };
  if (typeof v === 'boolean') return String(v);
  if (typeof v !== 'string') return { bad: 'not-a-string', line, detail: `${field} is ${Array.isArray(v) ? 'a list' : typeof v}` };
  if (NAN_CELLS.has(v.trim())) return { bad: 'nan-label', line, detail: `${field} is ${JSON.stringify(v)}` };
  return v.trim();
}

async function* readJsonl(lines: AsyncGenerator<Buffer>, o: LabelledReadOptions): AsyncGenerator<LabelledRow | BadLabelledRow> {
  for await (const r of jsonRows(lines)) {
    if ('bad' in r) yield r;
    else if (typeof r.row !== 'object' || r.row === null || Array.isArray(r.row)) yield { bad: 'malformed', line: r.line, detail: 'not a JSON object' };
    else {
      const row = r.row as Record<string, unknown>;
      yield exampleOf(row[o.textField], o.pairField ? row[o.pairField] : undefined, row[o.labelField], r.line, o);
    }
  }
}

async function* readDelimited(lines: AsyncGenerator<Buffer>, delim: string, o: LabelledReadOptions, path: string): AsyncGenerator<LabelledRow | BadLabelledRow> {
  let cols: { text: number; pair: number; label: number } | null = null;
  for await (const r of delimitedRecords(lines, delim, o.maxChars)) {
    if ('bad' in r) {
      yield r;
      continue;
    }
    const { fields, line } = r;
    if (!cols) {
      const col = (name: string, key: string) => columnIndex(fields, name, `${o.where}.${key}: ${path}`);
      const label = o.labelOptional ? fields.findIndex((f) => f.trim() === o.labelField) : col(o.labelField, 'label_field');
      cols = { text: col(o.textField, 'text_field'), pair: o.pairField ? col(o.pairField, 'text_pair_field') : -1, label };
      continue;
    }
    if (fields.length === 1 && fields[0] === '') {
      yield { bad: 'empty', line };
      continue;
    }
    const need = Math.max(cols.text, cols.pair, cols.label) + 1;
    const label = cols.label >= 0 ? fields[cols.label] : undefined;
    if (fields.length < need) {
      yield { bad: 'malformed', line, detail: `${fields.length} fields, the header has ${need} or more` };
      continue;
    }
    yield exampleOf(fields[cols.text], cols.pair >= 0 ? fields[cols.pair] : undefined, label, line, o);
  }
}

import { readFileSync, statSync } from 'node:fs';

/**
 * Reads the file users pointed at, or says which file and what was expected:
 * "tokenizer.json: /x/tok.json does not exist", "… is a folder, expected a
 * file", "… is not valid JSON (Unexpected end of JSON input)". Node's own
 * messages (EISDIR, a bare JSON position) name neither.
 */
export function readFileNamed(path: string, what: string): Buffer {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${what}: ${path} does not exist` : `${what}: cannot read ${path} (${(e as Error).message})`, { cause: e });
  }
  if (!isFile) throw new Error(`${what}: ${path} is a folder, expected a file`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`${what}: cannot read ${path} (${(e as Error).message})`, { cause: e });
  }
}

/** A JSON file, parsed; a truncated or hand-damaged file is named with the parser's reason. */
export function readJsonNamed<T = unknown>(path: string, what: string): T {
  return parseJsonNamed<T>(readFileNamed(path, what).toString('utf8'), path, what);
}

/** JSON text read from `path`, parsed, with errors that name the file. */
export function parseJsonNamed<T = unknown>(text: string, path: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    const hint = text.trim() === '' ? 'the file is empty' : (e as Error).message;
    throw new Error(`${what}: ${path} is not valid JSON (${hint}); it may be truncated or damaged`, { cause: e });
  }
}

/** A file that exists and reads, but whose content fails a check (a checksum, a structure). */
export class CorruptFileError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path} is corrupt: ${reason}`);
  }
}

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

/**
 * The file system calls an atomic write makes; tests swap in a writer that
 * fails (a full disk) where no small file system can be mounted.
 */
export interface WriteOps {
  writeSync(fd: number, data: Uint8Array, offset: number, length: number): number;
}
const realOps: WriteOps = { writeSync: (fd, data, offset, length) => writeSync(fd, data, offset, length) };

const HOST = hostname().replace(/[^A-Za-z0-9.-]/g, '_');
const TEMP = /^\.(.+)\.tmp-(.+)-(\d+)-(\d+)$/;

/** A name beside `path` for writing it: hidden, and telling which host and process writes it. */
export function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${HOST}-${process.pid}-${Date.now()}`);
}

/** A write that failed, naming the file it was for and what to do. */
export class FileWriteError extends Error {
  constructor(
    readonly path: string,
    readonly code: string | undefined,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Writes a file so that a crash at any moment leaves either the old file or
 * the complete new one: write to a temporary name in the same folder, fsync
 * it, rename over the target, then fsync the folder so the rename is durable.
 * On any error the temporary file is removed and the error names the target
 * (ENOSPC as "no space left on device writing <path> (needs ~N MB)").
 * Temporary names carry host and pid, so a later writer can tell a dead
 * writer's leftovers (removeStaleTemporaries) from a live one's.
 */
export function writeFileAtomic(path: string, chunks: Uint8Array | Uint8Array[], ops: WriteOps = realOps): void {
  const list = Array.isArray(chunks) ? chunks : [chunks];
  const bytes = list.reduce((a, c) => a + c.byteLength, 0);
  const dir = dirname(path);
  const tmp = temporaryName(path);
  let fd = -1;
  try {
    mkdirRecursive(dir);
    fd = openSync(tmp, 'w');
    for (const c of list) {
      let off = 0;
      while (off < c.byteLength) off += ops.writeSync(fd, c, off, c.byteLength - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already renamed
    }
    throw describeWriteError(e as NodeJS.ErrnoException, path, bytes);
  }
  fsyncDir(dir);
}

/** A file system error while writing `path` as one sentence that names it. */
export function describeWriteError(e: NodeJS.ErrnoException, path: string, bytes?: number): FileWriteError {
  const size = bytes !== undefined ? ` (needs ~${Math.max(1, Math.ceil(bytes / 1e6))} MB)` : '';
  const why: Record<string, string> = {
    ENOSPC: `no space left on device writing ${path}${size}`,
    EDQUOT: `disk quota exceeded writing ${path}${size}`,
    EACCES: `permission denied writing ${path}`,
    EPERM: `permission denied writing ${path}`,
    EROFS: `read-only file system: cannot write ${path}`,
    ENOTDIR: `cannot write ${path}: a parent is not a folder`,
    EISDIR: `cannot write ${path}: it is a folder`,
  };
  return new FileWriteError(path, e.code, why[e.code ?? ''] ?? `cannot write ${path}: ${e.message}`, { cause: e });
}

function fsyncDir(dir: string): void {
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/**
 * Removes the temporary files of writers that are gone (this host, a pid
 * that no longer runs): what a kill during a write leaves behind. Returns the
 * names removed. Other hosts' temporaries are left alone (their writers may
 * be alive on a shared file system) unless older than `maxAgeMs`.
 */
export function removeStaleTemporaries(dir: string, maxAgeMs = 24 * 3600_000): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP.exec(name);
    if (!m) continue;
    const [, , host, pid, time] = m;
    const dead = host === HOST ? !processAlive(Number(pid)) : Date.now() - Number(time) > maxAgeMs;
    if (!dead) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      // removed by someone else meanwhile
    }
  }
  return removed;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Checks, before any long work, that files can be created in `dir` (made if
 * missing): a read-only or full output folder is reported at once, naming
 * the job field `what`, not after the whole corpus has been tokenized.
 */
export function checkWritableFolder(dir: string, what: string): void {
  const probe = join(dir, `.write-check-${HOST}-${process.pid}`);
  try {
    mkdirRecursive(dir);
    closeSync(openSync(probe, 'w'));
    unlinkSync(probe);
  } catch (e) {
    throw new FileWriteError(dir, (e as NodeJS.ErrnoException).code, `${what}: ${describeWriteError(e as NodeJS.ErrnoException, dir).message}`, { cause: e });
  }
}

/**
 * mkdir -p with the real cause: Node's recursive mkdir reports ENOENT when a
 * parent cannot be created (a read-only or unwritable folder); creating the
 * first missing folder on its own gives EROFS or EACCES instead.
 */
function mkdirRecursive(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    let first = dir;
    while (!existsSync(dirname(first)) && dirname(first) !== first) first = dirname(first);
    mkdirSync(first); // throws the real reason
    throw e;
  }
}

import { execFileSync, spawnSync } from 'node:child_process';
import { openSync, readSync, closeSync, writeSync } from 'node:fs';

/** Flips `count` bytes of a file at `offset` (inside tensor data when the offset is past the headers). */
export function flipBytes(path: string, offset: number, count = 64): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(count);
    readSync(fd, b, 0, count, offset);
    for (let i = 0; i < count; i++) b[i] = b[i]! ^ 0xa5;
    writeSync(fd, b, 0, count, offset);
  } finally {
    closeSync(fd);
  }
}

/**
 * Mounts a tmpfs of `size` at `dir` (root only); returns an unmount function,
 * or null where mounting is not allowed (the caller uses another way then).
 */
export function mountTmpfs(dir: string, options: string): (() => void) | null {
  if (process.getuid?.() !== 0) return null;
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' });
  if (r.status !== 0) return null;
  return () => execFileSync('umount', ['-l', dir]);
}

export const BIN = new URL('../../bin/gradpool.js', import.meta.url).pathname;

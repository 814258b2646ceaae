import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-write.ts';
import { CorruptFileError, readFileNamed } from '../common/read-file.ts';
import type { FileDigest } from '../model/formats/torch-file.ts';

/**
 * checkpoints/manifest.json: for every checkpoint file, the step it holds,
 * its size and its SHA-256, written (atomically) right after the file. A
 * checkpoint is read only after its bytes match: a flipped bit anywhere,
 * not only in the zip entries their CRC-32 covers, is refused. Files with no
 * entry (a crash between the two writes, runs from older versions) are
 * checked by their CRC-32s alone.
 */
export interface ManifestEntry extends FileDigest {
  /** Optimizer steps over all stages that the file holds (best.pth: the step it was best at). */
  step: number;
  stage: number;
  written: string;
}

interface Manifest {
  format: 'gradpool-checkpoints-v1';
  files: Record<string, ManifestEntry>;
}

const FILE = 'manifest.json';

export function readManifest(dir: string): Manifest {
  const path = join(dir, FILE);
  if (!existsSync(path)) return { format: 'gradpool-checkpoints-v1', files: {} };
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
    if (m.format === 'gradpool-checkpoints-v1' && typeof m.files === 'object') return m;
  } catch {
    // A damaged manifest protects nothing: the files fall back to their CRC-32s.
  }
  return { format: 'gradpool-checkpoints-v1', files: {} };
}

/** Records (or, with null, forgets) the digests of files in `dir`. */
export function updateManifest(dir: string, changes: Record<string, ManifestEntry | null>): void {
  const m = readManifest(dir);
  for (const [name, e] of Object.entries(changes)) {
    if (e) m.files[name] = e;
    else delete m.files[name];
  }
  writeFileAtomic(join(dir, FILE), Buffer.from(`${JSON.stringify(m, null, 2)}\n`));
}

/** The file's bytes, after checking them against its manifest entry (if it has one). */
export function readVerifiedCheckpoint(path: string): { bytes: Buffer; entry: ManifestEntry | null } {
  const bytes = readFileNamed(path, 'checkpoint');
  const entry = readManifest(dirname(path)).files[basename(path)] ?? null;
  if (entry) {
    if (bytes.byteLength !== entry.bytes) {
      throw new CorruptFileError(path, `${bytes.byteLength} bytes where the manifest recorded ${entry.bytes} (truncated or overwritten)`);
    }
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== entry.sha256) throw new CorruptFileError(path, `its SHA-256 differs from the one recorded when it was written (step ${entry.step})`);
  }
  return { bytes, entry };
}

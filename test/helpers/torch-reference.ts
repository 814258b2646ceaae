import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs a reference of test/reference/ (bert_ref.py unless said) under a
 * Python that has torch: Debian's python3-torch lives in /usr/bin/python3,
 * not in a pyenv/venv python that may come first on PATH.
 * GRADPOOL_TORCH_PYTHON overrides.
 */
const REFERENCES = fileURLToPath(new URL('../reference/', import.meta.url));

export function torchPython(): string {
  const candidates = [process.env.GRADPOOL_TORCH_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean) as string[];
  for (const py of candidates) {
    if (py.startsWith('/') && !existsSync(py)) continue;
    try {
      execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
      return py;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    'no Python with torch found (tried GRADPOOL_TORCH_PYTHON, /usr/bin/python3, python3): ' +
      'run `bash scripts/setup.sh` or `apt-get install -y python3-torch libopenblas0-pthread`',
  );
}

export function runReference(cmd: 'forward' | 'init' | 'adamw' | 'load_pth' | 'save_pth' | 'keys', dir: string, script = 'bert_ref.py'): void {
  execFileSync(torchPython(), [join(REFERENCES, script), cmd, dir], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, OMP_NUM_THREADS: '1', OMP_WAIT_POLICY: 'PASSIVE' },
  });
}

export function scratchDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `gradpool-${tag}-`));
}

/** ‖a − b‖ / ‖b‖ in float64. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    num += d * d;
    den += b[i]! * b[i]!;
  }
  return Math.sqrt(num) / Math.sqrt(den || 1e-300);
}

/**
 * `npm run gpu:check` on a machine without an NVIDIA GPU exits at once, saying
 * so, before touching Node, Python or a build. (Its stages need a GPU; the
 * plumbing is exercised by `bash scripts/gpu-check/run.sh --cpu-dry-run`.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../scripts/gpu-check/run.sh', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gp-gpucheck-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function gpuCheck(path: string) {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const r = spawnSync('bash', [script], { env: { ...process.env, PATH: path, GPU_CHECK_OUT: out }, encoding: 'utf8', timeout: 20_000 });
  return { ...r, reportWritten: existsSync(out) };
}

describe('gpu:check without a GPU', () => {
  it('no nvidia-smi at all: exit 2, "no NVIDIA GPU was found", nothing run', () => {
    const r = gpuCheck('/usr/bin:/bin');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /gpu:check: no NVIDIA GPU was found/);
    assert.equal(r.stdout, '');
    assert.equal(r.reportWritten, false);
  });

  it('an nvidia-smi that finds no device (driver present, no GPU): the same', () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'nvidia-smi'), '#!/bin/sh\necho "No devices were found"\nexit 6\n');
    chmodSync(join(bin, 'nvidia-smi'), 0o755);
    const r = gpuCheck(`${bin}:/usr/bin:/bin`);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /no NVIDIA GPU was found/);
    assert.equal(r.reportWritten, false);
  });
});

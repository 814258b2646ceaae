import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { removeStaleTemporaries } from '../../common/atomic-write.ts';
import { loadTorchFile } from '../../model/formats/torch-file.ts';
import { scratchDir } from '../helpers/torch-reference.ts';

const CHILD = new URL('../helpers/checkpoint-writer-child.ts', import.meta.url).pathname;

test('SIGKILL in the middle of checkpoint writes never leaves a corrupt or mixed checkpoint', async () => {
  const dir = scratchDir('crash');
  const path = join(dir, 'last.pth');
  for (let round = 0; round < 4; round++) {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let written = 0;
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        written += d.toString().trim().split('\n').length;
        // Kill at a different point of a write each round: after 2 or 3 complete versions plus a varying delay.
        if (written >= 2 + (round % 2)) setTimeout(() => child.kill('SIGKILL'), 7 * round + 3);
      });
      child.on('exit', () => resolve());
    });
    const obj = loadTorchFile(path) as Map<string, unknown>;
    const version = obj.get('version') as number;
    const w = (obj.get('w') as { data: Float32Array }).data;
    assert.ok(version >= 1);
    assert.equal(w.length, 4_000_000);
    assert.ok(w.every((x) => x === version), `round ${round}: tensor mixes versions`);
  }
  // Leftover temporary files are the only trace of the kills; the target is always whole, and the
  // next writer's start removes them (their writers are dead).
  const leftovers = readdirSync(dir).filter((f) => f.includes('.tmp-'));
  assert.deepEqual(removeStaleTemporaries(dir).sort(), leftovers.sort());
  assert.deepEqual(readdirSync(dir), ['last.pth']);
});

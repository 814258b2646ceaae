import assert from 'node:assert/strict';
import { test } from 'node:test';
// @ts-expect-error: a plain .mjs script without types
import { layoutViolations, violationsOf } from '../../scripts/check-layout.mjs';

test('every import follows the layout rules (scripts/check-layout.mjs)', () => {
  assert.deepEqual(layoutViolations(), []);
});

test('the layout check catches an import that points up or across', () => {
  const across = violationsOf('gpu-worker/x.ts', "import { Coordinator } from '../coordinator/coordinator.ts';\n");
  assert.equal(across.length, 1);
  assert.match(across[0], /gpu-worker\/x\.ts:1: gpu-worker\/ may not import coordinator\//);
  assert.equal(violationsOf('train/x.ts', "const w = await import('../gpu-worker/rank-worker.ts');").length, 1);
  assert.equal(violationsOf('model/x.ts', "import type { Job } from '../spec/job-spec.ts';").length, 1);
  assert.deepEqual(violationsOf('train/x.ts', "import { Rng } from '../common/rng.ts';\nimport { a } from './y.ts';"), []);
  assert.match(violationsOf('newfolder/x.ts', '')[0], /no rule/);
});

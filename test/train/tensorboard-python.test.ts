import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { TensorBoardWriter } from '../../train/metrics/tensorboard.ts';
import { scratchDir } from '../helpers/torch-reference.ts';

// TensorBoard's own reader, where the tensorboard Python package is installed
// (it is not on Debian's package list; our decoder and the CRC32C check values
// cover the format everywhere else).
const python = process.env.GRADPOOL_TORCH_PYTHON ?? '/usr/bin/python3';
const available = (() => {
  try {
    execFileSync(python, ['-c', 'import tensorboard'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test("TensorBoard's EventAccumulator reads our scalars back", { skip: !available && 'the tensorboard Python package is not installed' }, () => {
  const dir = scratchDir('tb-python');
  const w = new TensorBoardWriter(dir);
  w.scalars(1, { 'train/loss': 7.5 });
  w.scalars(2, { 'train/loss': 6.25, 'eval/perplexity': 400 });
  w.close();
  const script = `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1]); acc.Reload()
print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}))`;
  const out = JSON.parse(execFileSync(python, ['-c', script, dir]).toString());
  assert.deepEqual(out, { 'train/loss': [[1, 7.5], [2, 6.25]], 'eval/perplexity': [[2, 400]] });
});

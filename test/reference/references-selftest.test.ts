import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { torchPython } from '../helpers/torch-reference.ts';

/**
 * The family references (DistilBERT, RoBERTa, ModernBERT, BertForSequenceClassification)
 * and the byte-level BPE trainer check themselves: float64 gradcheck, padded vs unpadded
 * attention, the sliding window, position ids, loss formulas, Hugging Face key lists,
 * bad-input errors. A reference that drifts fails here before any parity test trusts it.
 */
const SELFTEST = fileURLToPath(new URL('./selftest.py', import.meta.url));

test('every PyTorch reference passes its self-checks', () => {
  const r = spawnSync(torchPython(), [SELFTEST], {
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, OMP_NUM_THREADS: '1', OMP_WAIT_POLICY: 'PASSIVE' },
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const failed = out.split('\n').filter((l) => l.startsWith('FAIL') || l.startsWith('Traceback'));
  assert.equal(r.status, 0, `selftest.py exited ${r.status}${r.error ? ` (${r.error.message})` : ''}\n${failed.join('\n') || out.slice(-3000)}`);
  console.log(out.split('\n').find((l) => l.startsWith('# summary'))?.slice(2));
});

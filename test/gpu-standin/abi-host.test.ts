/**
 * The collectives C ABI on the host backends (shm, gloo), driven from the
 * C++ harness as the libtorch engine will drive it: bucket all-reduces
 * submitted in reverse order, completion callbacks and waits, queued behind
 * a JS all-reduce in one FIFO.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadNative } from '../../native/index.ts';
import { report, runWorld } from './standin.ts';

const BUCKETS = [6_553_600, 1000, 3, 300_001];

const hasGloo = loadNative().features.gloo;

describe('C ABI on host backends', { concurrency: true }, () => {
  for (const backend of ['shm', 'gloo'] as const) {
    const skip = backend === 'gloo' && !hasGloo && 'this build has no gloo (libgloo-dev missing)';
    it(`${backend}: bucket all-reduces complete in order with exact sums; misuse is refused`, { skip }, async () => {
      const w = await runWorld({ scenario: 'abi', args: { backend, buckets: BUCKETS }, env: { CUDA_VISIBLE_DEVICES: '' } });
      for (const r of [0, 1]) {
        assert.equal(report(w, r, 'ready').backend, backend);
        const v = report(w, r, 'result').value;
        assert.deepEqual(v.statuses, ['OK', 'OK', 'OK', 'OK'], JSON.stringify(v.messages));
        assert.equal(v.mismatches, 0, `first wrong value at ${v.firstMismatch}: ${v.got} instead of ${v.want}`);
        assert.deepEqual(v.completionOrder, [3, 2, 1, 0]);
        // Host memory: no stream to order after, none to wait on.
        assert.equal(v.invalidStream, 'INVALID');
        assert.equal(v.invalidStreamWait, 'INVALID');
        const js = report(w, r, 'step');
        assert.ok(js.ok, js.detail);
      }
    });
  }
});

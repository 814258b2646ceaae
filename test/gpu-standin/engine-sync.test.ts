/**
 * The libtorch engine's own gradient sync (native/torch/src/grad_buckets.cc):
 * DDP-style buckets in reverse parameter order, each all-reduced through the
 * collectives C ABI from an autograd hook while backward goes on, and only
 * in the armed (last) micro-batch. On shm and gloo the result must be
 * bit-identical to the trainer's host all-reduce of the same gradient; next
 * to (stand-in) NCCL a CPU engine must refuse and every rank take the host path.
 * The reducer's CUDA branch (stream ordering, stream_wait) runs on stand-in
 * device memory through native/standin/harness/grad_buckets_harness.cc: a CPU
 * libtorch cannot hold a CUDA engine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { torchSkip } from '../engine/torch-available.ts';
import { report, runWorld, violations, type World } from './standin.ts';

type Result = Extract<World['reports'][number][number], { type: 'result' }>;
const result = (w: World, rank: number, name: string): any => {
  const r = w.reports[rank]!.find((m): m is Result => m.type === 'result' && m.name === name);
  if (!r) throw new Error(`rank ${rank} sent no '${name}' result; it sent ${JSON.stringify(w.reports[rank])}`);
  return r.value;
};
/** Each rank a stand-in GPU of its own: nccl. */
const ownGpus = { rankEnv: [{ CUDA_VISIBLE_DEVICES: '0' }, { CUDA_VISIBLE_DEVICES: '1' }], watchdogMs: 90_000 };
const noErrors = (w: World) => {
  for (let r = 0; r < w.reports.length; r++) assert.deepEqual(w.reports[r]!.filter((m) => m.type === 'error'), [], `rank ${r}`);
  assert.equal(w.hung, false);
};

describe('torch engine gradient sync through the C ABI', { skip: torchSkip() }, () => {
  for (const backend of ['shm', 'gloo'] as const) {
    it(`${backend}: bucketed, overlapped with backward, only the last micro-batch, bit-identical to the host all-reduce`, async () => {
      // Rank 0 accumulates one micro-batch more than rank 1: had an unarmed backward communicated,
      // the ranks' collectives would not pair up.
      const w = await runWorld({ scenario: 'engine-sync', args: { backend, bucketBytes: 64 * 1024, extra: true }, env: { CUDA_VISIBLE_DEVICES: '' }, watchdogMs: 90_000 });
      noErrors(w);
      for (const r of [0, 1]) {
        assert.equal(report(w, r, 'ready').backend, backend);
        const attach = result(w, r, 'attach');
        assert.equal(attach.attached, true);
        // Reverse order of use: bucket 0 ends at the last parameter, the buckets tile the buffer.
        const ranges = attach.ranges as Array<[number, number]>;
        assert.ok(ranges.length >= 4, `${ranges.length} buckets`);
        assert.equal(ranges[0]![0] + ranges[0]![1], attach.numParams);
        for (let b = 1; b < ranges.length; b++) assert.equal(ranges[b]![0] + ranges[b]![1], ranges[b - 1]![0]);
        assert.equal(ranges.at(-1)![0], 0);
        assert.ok(ranges[0]![1] * 4 <= 64 * 1024, 'the first bucket is capped');
        assert.equal(result(w, r, 'path'), 'engine');
        const sync = result(w, r, 'sync');
        assert.equal(sync.nonzero, true);
        assert.deepEqual({ count: sync.count, first: sync.first }, { count: 0, first: -1 }, 'engine sum = host sum, bit for bit');
        assert.equal(sync.stats, 3, 'a JS collective right after the buckets pairs up');
        assert.equal(sync.report.buckets, ranges.length);
        // Every bucket was started from a hook, before backward returned.
        assert.equal(sync.report.launchedDuringBackward, ranges.length);
        assert.ok(sync.report.hiddenMs >= 0 && sync.report.hiddenMs <= sync.report.commMs + 1e-9);
        assert.deepEqual(result(w, r, 'second'), { count: 0, first: -1 }, 'a second armed step after re-arming');
      }
    });
  }

  it('an armed micro-batch without masked tokens (no backward) still pairs up: its buckets start at gradientSync', async () => {
    const w = await runWorld({ scenario: 'engine-sync', args: { backend: 'shm', bucketBytes: 64 * 1024, lastUnmasked: true }, env: { CUDA_VISIBLE_DEVICES: '' }, watchdogMs: 90_000 });
    noErrors(w);
    for (const r of [0, 1]) {
      const sync = result(w, r, 'sync');
      assert.equal(sync.count, 0);
      assert.equal(sync.report.launchedDuringBackward, 0);
    }
  });

  it('a peer that dies during an armed backward fails gradientSync within seconds, naming it; dispose does not hang', async () => {
    const w = await runWorld({ scenario: 'engine-peer-dies', args: { backend: 'shm', timeoutMs: 60_000 }, env: { CUDA_VISIBLE_DEVICES: '' }, watchdogMs: 90_000 });
    assert.equal(w.hung, false);
    const o = result(w, 0, 'outcome');
    assert.equal(o.attached, true);
    assert.match(o.outcome, /torch engine: gradient sync: gradient bucket 1\/\d+ \(\d+ floats at \d+\) failed: PEER_DIED \(rank 1\)/);
    assert.ok(o.failedAfterMs < 10_000, `failed after ${o.failedAfterMs} ms`);
    assert.ok(o.disposeMs < 5_000, `dispose took ${o.disposeMs} ms`);
  });

  it('CUDA memory over (stand-in) NCCL: every bucket from the hooks, ordered after the compute stream, no device-wide sync', async () => {
    const w = await runWorld({ scenario: 'engine-device-buckets', ...ownGpus });
    noErrors(w);
    for (const r of [0, 1]) {
      assert.equal(report(w, r, 'ready').backend, 'nccl');
      const d = result(w, r, 'device');
      // Reverse order, 32 KiB (8192 floats) per bucket, parameters never split: [7000 + 100], [20000], [5000 + 3000].
      assert.equal(d.buckets, 3);
      assert.equal(d.launchedDuringBackward, 3);
      assert.equal(d.lateRan, true);
      // (1 + 2) from the gradients plus 1 + 1 from the late kernels: the sum waited for them.
      assert.deepEqual({ wrong: d.wrong, min: d.min, max: d.max }, { wrong: 0, min: 5, max: 5 });
      assert.equal(d.lateRanBeforeSumReturned, true);
      // Control: the same late kernel on another stream is not waited for (no device-wide sync):
      // the sum is 1 + 2, and the kernel's +1 lands afterwards, on this rank only.
      const ctl = result(w, r, 'control');
      assert.equal(ctl.lateRanBeforeSumReturned, false);
      assert.deepEqual({ min: ctl.min, max: ctl.max }, { min: 4, max: 4 });
    }
    assert.deepEqual(w.events.filter((e) => e.ev === 'deviceSynchronize'), []);
    assert.deepEqual(violations(w), []);
  });

  it('a CPU engine next to NCCL (stand-in GPUs) refuses to attach, and every rank takes the host path', async () => {
    const w = await runWorld({ scenario: 'engine-path', ...ownGpus });
    noErrors(w);
    for (const r of [0, 1]) {
      assert.equal(report(w, r, 'ready').backend, 'nccl');
      const p = result(w, r, 'path');
      assert.deepEqual([p.chosen, p.agreed], ['host', 'host']);
      assert.match(p.lines[0], /gradient sync: on the host after backward \(nccl reduces CUDA memory but this engine computes on cpu\)/);
    }
  });

  it('on shm the trainer chooses the engine path', async () => {
    const w = await runWorld({ scenario: 'engine-path', args: { backend: 'shm' }, env: { CUDA_VISIBLE_DEVICES: '' }, watchdogMs: 90_000 });
    noErrors(w);
    const p = result(w, 0, 'path');
    assert.deepEqual([p.chosen, p.agreed], ['engine', 'engine']);
    assert.match(p.lines[0], /gradient sync: in the engine, \d+ bucket\(s\) of up to 25 MiB, overlapped with backward/);
  });
});

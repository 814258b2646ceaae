/**
 * The nccl backend end to end through the CPU stand-ins: host collectives
 * across sizes, the device all-reduce of DDP-style buckets through the C ABI
 * (ordered after the compute stream by an event, results awaited on the
 * device), and a graceful destroy, with every CUDA call on the right device.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventsOf, report, runWorld, violations, type World } from './standin.ts';

/** 25 MB buckets as DDP uses, plus odd sizes; the flat buffer is their concatenation. */
const BUCKETS = [6_553_600, 1_000_000, 3, 2_500_001];

describe('nccl through the stand-in: collectives, device all-reduce, destroy', () => {
  let w: World;
  it('runs two ranks on two GPUs', async () => {
    w = await runWorld({
      scenario: 'ops',
      // 17M floats = 68 MB: more than one 64 MiB pinned staging chunk.
      args: { backend: 'auto', sizes: [1, 1000, 17_000_000], abiOps: ['sum', 'avg'], buckets: BUCKETS },
      // NCCL may take a while to come up, and may answer any call on a
      // non-blocking communicator with ncclInProgress: both must be polled through.
      env: { GP_STANDIN_NCCL_INIT_DELAY_MS: '300', GP_STANDIN_NCCL_ENQUEUE_INPROGRESS: '1' },
      watchdogMs: 60_000,
    });
    assert.equal(w.hung, false);
    for (const r of [0, 1]) assert.ok(w.reports[r]!.some((m) => m.type === 'done'), `rank ${r}: ${JSON.stringify(w.reports[r])}`);
  });

  it('auto picks nccl, each rank on its own GPU, in PCI bus order', () => {
    // GP_STANDIN_GPUS lists 0000:81 before 0000:01 ("fastest first"); with
    // CUDA_DEVICE_ORDER=PCI_BUS_ID, set by the loader, ordinal 0 is 0000:01.
    for (const [rank, busId] of [[0, '0000:01:00.0'], [1, '0000:81:00.0']] as const) {
      const r = report(w, rank, 'ready');
      assert.equal(r.backend, 'nccl');
      assert.deepEqual(r.placement, { type: 'cuda', index: rank, busId });
      assert.equal(r.device, `cuda:${rank} (${busId})`);
      assert.equal(r.versions.nccl, '2.28.5');
    }
  });

  it('host all-reduce (sum, avg), broadcast and barrier give exact results', () => {
    for (const r of [0, 1]) {
      const steps = w.reports[r]!.filter((m) => m.type === 'step');
      assert.equal(steps.length, 6);
      for (const s of steps) assert.ok(s.type === 'step' && s.ok, `rank ${r} ${JSON.stringify(s)}`);
    }
  });

  it('the C ABI describes the communicator', () => {
    assert.deepEqual(report(w, 1, 'result'), {
      type: 'result', name: 'abi-table',
      value: { version: 1, backend: 'nccl', rank: 1, worldSize: 2, memory: 'cuda', cudaDevice: 1 },
    });
  });

  it('bucket all-reduces start during "backward" and wait for it on the device', () => {
    for (const r of [0, 1]) {
      for (const op of ['sum', 'avg']) {
        const res = w.reports[r]!.find((m) => m.type === 'result' && m.name === `abi-${op}`);
        assert.ok(res && res.type === 'result', `rank ${r}: no abi-${op} result`);
        const v = res.value;
        assert.deepEqual(v.statuses, ['OK', 'OK', 'OK', 'OK'], JSON.stringify(v.messages));
        // All four were submitted while the first bucket's kernel was still held back:
        // all_reduce returns at once, the event orders it after the compute stream.
        assert.equal(v.submittedBeforeCompute, true);
        // The optimizer's stream read every value after cudaStreamWaitEvent on the works.
        assert.equal(v.mismatches, 0, `first wrong value at ${v.firstMismatch}: ${v.got} instead of ${v.want}`);
        // Completion in submission order (last bucket first, as backward produces them).
        assert.deepEqual(v.completionOrder, [3, 2, 1, 0]);
      }
    }
  });

  it('no device-wide synchronisation, no stray context, no misuse', () => {
    assert.deepEqual(violations(w), []);
    assert.equal(w.events.filter((e) => e.ev === 'deviceSynchronize').length, 0);
    // Rank 1 works on device 1 only: no context was ever created on device 0
    // (frees and stream destruction on pool threads set the device first).
    assert.deepEqual(eventsOf(w, 1, 'context').map((e) => e.device), [1]);
    assert.deepEqual(eventsOf(w, 0, 'context').map((e) => e.device), [0]);
  });

  it('destroy finalizes on every rank, then destroys (no abort)', () => {
    for (const r of [0, 1]) {
      assert.deepEqual(eventsOf(w, r).map((e) => e.ev).filter((e) => ['finalize', 'finalizeDone', 'destroy', 'abort'].includes(e)),
        ['finalize', 'finalizeDone', 'destroy']);
      const closed = w.reports[r]!.find((m) => m.type === 'result' && m.name === 'closed');
      assert.deepEqual(closed && closed.type === 'result' && closed.value, { finalized: true, how: 'finalized' });
    }
  });
});

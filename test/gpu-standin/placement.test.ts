/**
 * Device placement: every rank publishes the bus ids of the GPUs it sees;
 * rank 0 gives ranks on one host distinct GPUs, and where some must share
 * one, NCCL (which refuses two ranks on one GPU) is never picked: shm or
 * gloo instead, said in the log. Runs through the CUDA/NCCL stand-ins.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { placeRanks } from '../../native/collectives/placement.ts';
import type { PeerInfo } from '../../native/collectives/rendezvous.ts';
import { CUDART, NCCL, ensureStandin, report, runWorld } from './standin.ts';

const peer = (rank: number, gpus: string[], extra: Partial<PeerInfo> = {}) =>
  ({ rank, worldSize: 0, nonce: '', host: 'h', hostKey: 'h/boot', pid: 1, pidns: '', gpus, ...extra }) as PeerInfo;

describe('placeRanks', () => {
  it('gives each local rank its own GPU, constrained ranks first', () => {
    // Rank 1 sees only A (CUDA_VISIBLE_DEVICES=0), rank 0 sees both: rank 0 takes B.
    const plan = placeRanks([peer(0, ['A', 'B']), peer(1, ['A'])]);
    assert.deepEqual(plan.devices, [{ index: 1, busId: 'b' }, { index: 0, busId: 'a' }]);
    assert.deepEqual(plan.shared, []);
  });

  it('reports GPUs that ranks must share, per host', () => {
    const plan = placeRanks([peer(0, ['A', 'B']), peer(1, ['A', 'B']), peer(2, ['A', 'B']), peer(3, ['A'], { hostKey: 'other/boot', host: 'other' })]);
    assert.deepEqual(plan.devices.map((d) => d.busId), ['a', 'b', 'a', 'a']);
    assert.deepEqual(plan.shared, ['ranks 0 and 2 share GPU a on h']);
  });

  it('keeps explicit devices and places GPU-less ranks on the CPU', () => {
    const plan = placeRanks([peer(0, ['A', 'B'], { requestedDevice: 1 } as Partial<PeerInfo>), peer(1, [])]);
    assert.deepEqual(plan.devices, [{ index: 1, busId: 'b' }, { index: -1, busId: null }]);
    assert.throws(() => placeRanks([peer(0, ['A'], { requestedDevice: 3 } as Partial<PeerInfo>)]), /rank 0 asked for CUDA device 3 but sees 1 GPU/);
  });
});

describe('placement through the rendezvous (stand-in GPUs)', { concurrency: true }, () => {
  it('two ranks on one GPU: shm instead of NCCL, said in the log; explicit nccl is refused', async () => {
    const w = await runWorld({ scenario: 'placement', args: { tryNccl: true }, env: { GP_STANDIN_GPUS: '0000:01:00.0' } });
    for (const r of [0, 1]) {
      const ready = report(w, r, 'ready');
      assert.equal(ready.backend, 'shm');
      assert.deepEqual(ready.placement, { type: 'cuda', index: 0, busId: '0000:01:00.0' });
      assert.match(report(w, r, 'log').line, /using shm instead of NCCL: NCCL needs a GPU per rank, but ranks 0 and 1 share GPU 0000:01:00\.0/);
      const refused = report(w, r, 'error');
      assert.equal(refused.code, 'MISMATCH');
      assert.match(refused.message, /ranks 0 and 1 share GPU 0000:01:00\.0/);
    }
    // NCCL was never initialised (it would fail with "Duplicate GPU detected").
    assert.deepEqual(w.events.filter((e) => e.ev === 'init'), []);
  });

  it('one GPU per worker through CUDA_VISIBLE_DEVICES: nccl, each on its own bus id', async () => {
    const w = await runWorld({ scenario: 'placement', rankEnv: [{ CUDA_VISIBLE_DEVICES: '0' }, { CUDA_VISIBLE_DEVICES: '1' }] });
    assert.deepEqual(report(w, 0, 'ready').placement, { type: 'cuda', index: 0, busId: '0000:01:00.0' });
    assert.deepEqual(report(w, 1, 'ready').placement, { type: 'cuda', index: 0, busId: '0000:81:00.0' });
    assert.equal(report(w, 0, 'ready').backend, 'nccl');
  });

  it('CPU workers (CUDA_VISIBLE_DEVICES=""): cpu placement, shm', async () => {
    const w = await runWorld({ scenario: 'placement', env: { CUDA_VISIBLE_DEVICES: '' } });
    for (const r of [0, 1]) {
      assert.equal(report(w, r, 'ready').backend, 'shm');
      assert.deepEqual(report(w, r, 'ready').placement, { type: 'cpu' });
    }
    assert.equal(w.reports[0]!.some((m) => m.type === 'log'), false, 'no GPU anywhere: nothing to explain');
  });
});

describe('loader', () => {
  it('reuses a CUDA runtime already loaded in the process instead of opening another', () => {
    ensureStandin();
    // LD_PRELOAD plays libtorch having loaded its libcudart.so.13; the toolkit's
    // own libcudart.so (in the linker cache here) must not be opened next to it.
    const addon = fileURLToPath(new URL('../../native/build/Release/gradpool_collectives.node', import.meta.url));
    const r = spawnSync(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(addon)}).ncclProbe()))`], {
      env: { ...process.env, LD_PRELOAD: CUDART, GRADPOOL_CUDART_LIB: '', GRADPOOL_NCCL_LIB: NCCL, GP_STANDIN_GPUS: '0000:01:00.0' },
      encoding: 'utf8',
    });
    const probe = JSON.parse(r.stdout) as { ok: boolean; cudartLibrary: string; busIds: string[] };
    assert.equal(probe.cudartLibrary, `${CUDART} (already loaded)`);
    assert.equal(probe.ok, true);
    assert.deepEqual(probe.busIds, ['0000:01:00.0']);
  });
});
